"""`manage.py probe NAME [--json]` checks one service now; `manage.py probe --all` the whole fleet.

Results are recorded like any check (status, incidents, drift, alerts), outside the schedule.
"""

from __future__ import annotations

import difflib
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checks import sweep_db
from checks.sweep_db import Checked
from fleet.models import Service

COLUMNS = ("NAME", "STATUS", "CHECK", "LATENCY", "SPOKE", "PROTOCOL", "TOOLS", "ERROR")


def as_dict(item: Checked) -> dict:
    """The JSON shape of one check (documented in the README)."""
    outcome, result, service = item.outcome, item.result, item.service
    return {
        "name": service.name,
        "status": service.status,
        "ok": outcome.ok,
        "latency_ms": None if outcome.latency_ms is None else round(outcome.latency_ms, 1),
        "transport": outcome.transport,
        "protocol_version": outcome.protocol_version,
        "server_name": outcome.server_name,
        "server_version": outcome.server_version,
        "tools": [t.name for t in outcome.tools],
        "error": outcome.error,
        "body_excerpt": outcome.body_excerpt,  # the CLI runs on the server: operators' view
        "phases_ms": {k: round(v, 1) for k, v in outcome.phases_ms.items()},
        "http_status": outcome.http_status,
        "cold_start": bool(result and result.cold_start),
        "tool_call_ok": outcome.tool_call_ok,
        "tls_days_to_expiry": outcome.tls.days_to_expiry if outcome.tls else None,
        "tls_trusted": outcome.tls.trusted if outcome.tls else None,  # by the service's trust
        "client": outcome.client,  # "lean" or "httpx" (the fallback)
        "client_reason": outcome.client_reason,
        "checked_at": result.checked_at.isoformat() if result else None,
        "drift": item.drift.readable if item.drift else None,
    }


class Command(BaseCommand):
    help = "Check one service now (NAME) or every enabled service (--all) and print the result."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="The service to check.")
        parser.add_argument("--all", action="store_true", help="Check every enabled service.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")

    def handle(self, *args, **options) -> None:
        name, everything = options["name"], options["all"]
        if bool(name) == bool(everything):
            raise CommandError("Give either a service NAME or --all (not both, not neither).")
        if everything:
            items = sweep_db.check_all()
            if options["json"]:
                self.stdout.write(json.dumps([as_dict(i) for i in items], indent=2))
            else:
                self._table(items)
            return
        try:
            item = sweep_db.check_now(self._service(name))
        except Service.DoesNotExist as gone:
            raise CommandError(str(gone)) from gone
        if options["json"]:
            self.stdout.write(json.dumps(as_dict(item), indent=2))
        else:
            self._text(as_dict(item))

    def _service(self, name: str) -> Service:
        service = Service.objects.filter(name=name).first()
        if service is not None:
            return service
        names = list(Service.objects.values_list("name", flat=True))
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise CommandError(f"No service named '{name}'.{hint}")

    def _text(self, d: dict) -> None:
        check = "ok" if d["ok"] else "FAILED"
        latency = "—" if d["latency_ms"] is None else f"{d['latency_ms']:.0f} ms"
        self.stdout.write(f"{d['name']}: {check} in {latency}; status {d['status']}")
        if d["transport"]:
            self.stdout.write(f"  spoke      {d['transport']}, protocol {d['protocol_version']}")
        if d["server_name"]:
            self.stdout.write(f"  server     {d['server_name']} {d['server_version']}")
        if d["tools"]:
            self.stdout.write(f"  tools      {', '.join(d['tools'])}")
        if d["http_status"] is not None:
            self.stdout.write(f"  health     HTTP {d['http_status']}")
        if d["tls_days_to_expiry"] is not None:
            self.stdout.write(f"  tls        expires in {d['tls_days_to_expiry']:.0f} days")
        if d["client"] == "httpx":
            self.stdout.write(f"  client     httpx, because {d['client_reason']}")
        if d["error"]:
            self.stdout.write(f"  error      {d['error']}")
        if d["body_excerpt"]:
            self.stdout.write(f"  target said {d['body_excerpt']}")
        if d["drift"]:
            self.stdout.write("  tool drift\n    " + d["drift"].replace("\n", "\n    "))

    def _table(self, items: list[Checked]) -> None:
        rows = [COLUMNS]
        for item in items:
            d = as_dict(item)
            rows.append(
                (
                    d["name"],
                    d["status"],
                    "ok" if d["ok"] else "FAIL",
                    "—" if d["latency_ms"] is None else f"{d['latency_ms']:.0f} ms",
                    d["transport"] or "http",
                    d["protocol_version"] or "—",
                    str(len(d["tools"])) if d["ok"] and item.service.kind == "mcp_server" else "—",
                    (d["error"] or "")[:80],
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
            self.stdout.write("  ".join(cells).rstrip())
        failed = sum(1 for i in items if not i.outcome.ok)
        self.stdout.write(f"{len(items)} checked, {len(items) - failed} ok, {failed} failed.")
