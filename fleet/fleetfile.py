"""The fleet file: a YAML description of accounts, services and budgets, imported as one transaction.

Import is an idempotent upsert by name. Each entry states the whole object (missing keys take their
defaults). A file with any error changes nothing and every error names the entry and the field.

The file is hostile input: `parse` refuses it before building anything big when it is larger than
MAX_FILE_BYTES, nests deeper than MAX_DEPTH, uses more than MAX_ALIASES aliases or would expand to
more than MAX_NODES nodes (an alias "bomb" of a few hundred bytes can stand for billions), holds an
integer longer than MAX_INT_DIGITS digits, or text a database cannot store (NUL, lone surrogates).
The CLI, the web preview and the import job all go through `parse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.resolver import Resolver

from console.audit import record_action
from console.input_guard import unstorable_reason
from fleet import services as fleet_services
from fleet.budgets.fleetfile import export_budgets, import_budgets
from fleet.models import CloudAccount, Service

ACCOUNT_KEYS = {"name", *fleet_services.ACCOUNT_FIELDS}
SERVICE_KEYS = {"name", "account", "depends_on", "checks", *fleet_services.SERVICE_FIELDS}


class FleetFileError(Exception):
    """The file could not be applied; `errors` lists one readable line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )


MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 16  # a fleet file needs 4 (sections, entries, fields, list items)
MAX_ALIASES = 1_000
MAX_NODES = 500_000  # counted with every alias expanded
MAX_INT_DIGITS = 18  # anything longer overflows a 64-bit database integer anyway
MAX_SCALAR_CHARS = 20_000  # longer than any field takes; refused before tag resolution scans it

try:  # libyaml's event parser (fast; the pure-Python scanner is quadratic on "[[[[...")
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
        def __init__(self, stream):
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class BoundedLoader(Composer, _Parser, SafeConstructor, Resolver):
    """A safe loader that counts while composing, so nothing is expanded before it is refused.

    Each node's size is 1 + its children's sizes, an alias counting as the whole node it names;
    the composer stops at the first node past MAX_NODES, past MAX_DEPTH or at alias MAX_ALIASES + 1.
    """

    def __init__(self, stream: str):
        _Parser.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self._depth = 0
        self._aliases = 0
        self._sizes: dict[int, int] = {}

    def _refuse(self, problem: str, event) -> None:
        raise yaml.composer.ComposerError(None, None, problem, event.start_mark)

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                self._refuse(f"more than {MAX_ALIASES} aliases (*name)", event)
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                self._refuse(f"alias *{event.anchor} refers to a node that contains it", event)
            return node
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse(f"nested more than {MAX_DEPTH} levels deep", event)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node.value, list):
            children = (
                [item for pair in node.value for item in pair]
                if node.value and isinstance(node.value[0], tuple)
                else node.value
            )
            size = 1 + sum(self._sizes.get(id(child), 0) for child in children)
        else:
            size = 1
        if size > MAX_NODES:
            self._refuse(
                f"expands to more than {MAX_NODES} values (aliases counted in full)", event
            )
        self._sizes[id(node)] = size
        return node

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and len(value) > MAX_SCALAR_CHARS:
            event = self.peek_event()
            self._refuse(f"a value longer than {MAX_SCALAR_CHARS} characters", event)
        return super().resolve(kind, value, implicit)

    def construct_yaml_int(self, node):
        digits = self.construct_scalar(node)
        if len(digits.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
            raise ConstructorError(
                None,
                None,
                f"integer with more than {MAX_INT_DIGITS} digits",
                node.start_mark,
            )
        return super().construct_yaml_int(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def _unstorable(value: Any, where: str) -> list[str]:
    """Every string (keys included) that a database cannot store, by its place in the file."""
    if isinstance(value, str):
        reason = unstorable_reason(value)
        return [f"{where}: {reason}"] if reason else []
    problems: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            label = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and unstorable_reason(key):
                problems.append(f"{where or 'top level'}: a key {unstorable_reason(key)}")
            else:
                problems += _unstorable(item, label)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _unstorable(item, f"{where}[{index}]")
    return problems


def load_yaml(text: str) -> Any:
    """The YAML document in `text`, within the caps above; FleetFileError otherwise."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise FleetFileError([f"file: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB."])
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise FleetFileError([f"Not valid YAML: {exc}"]) from exc
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. a timestamp like 2026-13-45
        raise FleetFileError([f"Not valid YAML: {exc}"]) from exc
    finally:
        loader.dispose()


def parse(text: str) -> dict:
    data = load_yaml(text) or {}
    if not isinstance(data, dict):
        raise FleetFileError(["The file must be a mapping with 'accounts' and/or 'services'."])
    unknown = set(data) - {"accounts", "services", "budgets"}
    if unknown:
        raise FleetFileError(
            [
                f"Unknown top-level key '{sorted(unknown)[0]}' (expected accounts, services, budgets)."
            ]
        )
    for section in ("accounts", "services", "budgets"):
        if not isinstance(data.get(section) or [], list):
            raise FleetFileError([f"'{section}' must be a list."])
    problems = _unstorable(data, "") or _type_problems(data)
    if problems:
        raise FleetFileError(problems)
    return data


def _label(section: str, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{section}[{index}]" + (f" ({name})" if name else "")


def _errors_of(label: str, exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{label}: {f}: {m}" for f, msgs in exc.message_dict.items() for m in msgs]
    return [f"{label}: {m}" for m in exc.messages]


LIST_FIELDS = {"tags", "depends_on", "thresholds", "channels"}
NUMBER_FIELDS = {"amount"}  # a string, or a plain number YAML wrote without quotes


def _type_problems(data: dict) -> list[str]:
    """Each entry a mapping of text keys to the types its fields take, before any lookup by name."""
    problems: list[str] = []
    for section in ("accounts", "services", "budgets"):
        for index, entry in enumerate(data.get(section) or []):
            label = f"{section}[{index}]"
            if not isinstance(entry, dict):
                problems.append(f"{label}: must be a mapping.")
                continue
            for key, value in entry.items():
                problems += _field_type_problem(label, key, value)
    return problems


def _field_type_problem(label: str, key: Any, value: Any) -> list[str]:
    if not isinstance(key, str):
        return [f"{label}: {key!r}: field names are text."]
    if value is None:
        return []
    if key == "checks":  # check settings: typed and bounded by save_check_config, field by field
        return [] if isinstance(value, dict) else [f"{label}: checks: must be a mapping."]
    if key in LIST_FIELDS:
        if not isinstance(value, list):
            return [f"{label}: {key}: must be a list."]
        if key != "thresholds" and not all(isinstance(item, str) for item in value):
            return [f"{label}: {key}: must be a list of names."]
        return []
    if key in NUMBER_FIELDS and isinstance(value, int | float) and not isinstance(value, bool):
        return []
    if not isinstance(value, str):
        return [f"{label}: {key}: must be text (got {type(value).__name__})."]
    return []


def _check_entry(section: str, index: int, entry: Any, allowed: set[str]) -> list[str]:
    label = _label(section, index, entry)
    if not isinstance(entry, dict):
        return [f"{label}: must be a mapping."]
    problems = [f"{label}: {k}: unknown field." for k in sorted(set(entry) - allowed)]
    if not entry.get("name"):
        problems.append(f"{label}: name: required.")
    if section == "services" and not entry.get("url"):
        problems.append(f"{label}: url: required.")
    if section == "accounts" and not entry.get("provider"):
        problems.append(f"{label}: provider: required.")
    return problems


def _change_line(kind: str, name: str, before: dict | None, after: dict) -> str | None:
    if before is None:
        return f"+ {kind} {name}"
    changes = [
        f"{k}: {before.get(k)!r} → {after.get(k)!r}" for k in after if before.get(k) != after.get(k)
    ]
    return f"~ {kind} {name}: " + "; ".join(changes) if changes else None


def import_fleet(text: str, *, actor: Any, dry_run: bool = False) -> ImportReport:
    """Apply the file (or, with dry_run, compute what would change). Raises FleetFileError."""
    data = parse(text)
    report = ImportReport()
    errors: list[str] = []
    with transaction.atomic():
        errors += _apply_accounts(data.get("accounts") or [], actor, report)
        if not errors:
            errors += _apply_services(data.get("services") or [], actor, report)
        if not errors and data.get("budgets"):
            errors += import_budgets(data["budgets"], actor)
        if errors:
            transaction.set_rollback(True)
            raise FleetFileError(errors)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _seen_twice(section: str, entries: list) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if name in seen:
            problems.append(
                f"{_label(section, i, entry)}: name: '{name}' already appears in {section}[{seen[name]}]."
            )
        elif name:
            seen[name] = i
    return problems


def _apply_accounts(entries: list, actor: Any, report: ImportReport) -> list[str]:
    errors = _seen_twice("accounts", entries)
    for i, entry in enumerate(entries):
        problems = _check_entry("accounts", i, entry, ACCOUNT_KEYS)
        if problems:
            errors += problems
            continue
        instance = CloudAccount.objects.filter(name=entry["name"]).first()
        before = fleet_services.account_state(instance) if instance else None
        try:
            account = fleet_services.prepare_account(entry, instance)
        except ValidationError as exc:
            errors += _errors_of(_label("accounts", i, entry), exc)
            continue
        account.save()
        _note(
            report,
            "account",
            account.name,
            before,
            fleet_services.account_state(account),
            actor,
            account,
        )
    return errors


def _apply_services(entries: list, actor: Any, report: ImportReport) -> list[str]:
    errors = _seen_twice("services", entries)
    befores: dict[str, dict | None] = {}
    saved: list[tuple[int, dict, Service]] = []
    # Pass 1: every service's own fields, so dependencies may point forwards in the file.
    for i, entry in enumerate(entries):
        problems = _check_entry("services", i, entry, SERVICE_KEYS)
        if problems:
            errors += problems
            continue
        instance = Service.objects.filter(name=entry["name"]).first()
        befores[entry["name"]] = fleet_services.service_state(instance) if instance else None
        try:
            service = fleet_services.prepare_service({**entry, "depends_on": []}, instance)
        except ValidationError as exc:
            errors += _errors_of(_label("services", i, entry), exc)
            continue
        service.save()
        saved.append((i, entry, service))
    if errors:
        return errors
    # Pass 2: dependencies, checked against the whole graph (cycles across entries included).
    for i, entry, service in saved:
        callees = entry.get("depends_on") or []
        if not isinstance(callees, list):
            errors.append(f"{_label('services', i, entry)}: depends_on: must be a list of names.")
            continue
        try:
            fleet_services._check_dependencies(service, callees)
        except ValidationError as exc:
            errors += _errors_of(_label("services", i, entry), exc)
            continue
        fleet_services._set_dependencies(service, callees)
    for i, entry, service in saved:
        errors += _apply_checks(_label("services", i, entry), entry.get("checks"), service, actor)
    if errors:
        return errors
    for _, _entry, service in saved:
        after = fleet_services.service_state(service)
        _note(report, "service", service.name, befores[service.name], after, actor, service)
    return errors


def _apply_checks(label: str, spec: Any, service: Service, actor: Any) -> list[str]:
    """The entry's `checks:` mapping (probe auth, interval, ...) through the same service
    function as the form and the API; secrets only as references."""
    from checks.services import save_check_config

    if spec is None:
        return []
    if not isinstance(spec, dict):
        return [f"{label}: checks: must be a mapping of check settings."]
    try:
        save_check_config(actor=actor, source="cli", service=service, spec=spec)
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            return [f"{label}: checks: {m}" for m in exc.messages]
        return [f"{label}: checks.{f}: {m}" for f, ms in exc.message_dict.items() for m in ms]
    return []


def _export_checks() -> dict[str, dict]:
    """Each service's check settings that differ from the defaults (references, never secrets)."""
    from checks.models import CheckConfig
    from checks.services import CONFIG_FIELDS

    defaults = {f: CheckConfig._meta.get_field(f).get_default() for f in CONFIG_FIELDS}
    found = {}
    for row in CheckConfig.objects.values("service__name", *CONFIG_FIELDS):
        changed = {f: row[f] for f in CONFIG_FIELDS if row[f] != defaults[f]}
        if changed:
            found[row["service__name"]] = changed
    return found


def _note(report: ImportReport, kind: str, name: str, before, after, actor, obj) -> None:
    line = _change_line(kind, name, before, after)
    if line is None:
        report.unchanged.append(f"{kind} {name}")
        return
    report.diff.append(line)
    (report.updated if before else report.created).append(f"{kind} {name}")
    record_action(
        actor,
        "update" if before else "create",
        obj,
        source="cli",
        before=before,
        after=after,
        detail="fleet import",
    )


def export_fleet() -> str:
    """The whole registry as a fleet file, stable ordering, defaults included."""
    accounts = [
        _compact(fleet_services.account_state(a)) for a in CloudAccount.objects.order_by("name")
    ]
    checks = _export_checks()
    services = [
        _compact(fleet_services.service_state(s))
        for s in Service.objects.select_related("account")
        .prefetch_related("dependencies")
        .order_by("name")
    ]
    for service in services:
        if service["name"] in checks:
            service["checks"] = checks[service["name"]]
    document = {"accounts": accounts, "services": services}
    budgets = export_budgets()
    if budgets:
        document["budgets"] = budgets
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _compact(state: dict) -> dict:
    """Drop empty optional values so the file stays readable; import restores the defaults."""
    keep = {"name", "provider", "kind", "url", "transport", "environment"}
    return {k: v for k, v in state.items() if k in keep or v not in ("", [], None)}
