"""The fleet file: a YAML description of accounts, services and budgets, imported as one transaction.

Import is an idempotent upsert by name. Each entry states the whole object (missing keys take their
defaults). A file with any error changes nothing and every error names the entry and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from console.audit import record_action
from fleet import services as fleet_services
from fleet.budgets.fleetfile import export_budgets, import_budgets
from fleet.models import CloudAccount, Service

ACCOUNT_KEYS = {"name", *fleet_services.ACCOUNT_FIELDS}
SERVICE_KEYS = {"name", "account", "depends_on", *fleet_services.SERVICE_FIELDS}


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


def parse(text: str) -> dict:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise FleetFileError([f"Not valid YAML: {exc}"]) from exc
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
    return data


def _label(section: str, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{section}[{index}]" + (f" ({name})" if name else "")


def _errors_of(label: str, exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{label}: {f}: {m}" for f, msgs in exc.message_dict.items() for m in msgs]
    return [f"{label}: {m}" for m in exc.messages]


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
    if errors:
        return errors
    for _, _entry, service in saved:
        after = fleet_services.service_state(service)
        _note(report, "service", service.name, befores[service.name], after, actor, service)
    return errors


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
    services = [
        _compact(fleet_services.service_state(s))
        for s in Service.objects.select_related("account")
        .prefetch_related("dependencies")
        .order_by("name")
    ]
    document = {"accounts": accounts, "services": services}
    budgets = export_budgets()
    if budgets:
        document["budgets"] = budgets
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _compact(state: dict) -> dict:
    """Drop empty optional values so the file stays readable; import restores the defaults."""
    keep = {"name", "provider", "kind", "url", "transport", "environment"}
    return {k: v for k, v in state.items() if k in keep or v not in ("", [], None)}
