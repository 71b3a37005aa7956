"""`manage.py audit [NAME|--all] [--format json|markdown|csv]`: audit now, print the export."""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checks.audits.exporting import FORMATS, stream_export
from checks.audits.models import AuditRun
from checks.audits.services import create_run, execute_run
from fleet.models import Service


class Command(BaseCommand):
    help = (
        "Audit one service (NAME) or the whole fleet (--all) against the production checklist, "
        "synchronously, and print the run as JSON, Markdown or CSV."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="The service to audit.")
        parser.add_argument("--all", action="store_true", help="Audit every registered service.")
        parser.add_argument(
            "--format",
            default="markdown",
            choices=[*sorted(FORMATS), "md"],
            help="Output format (default: markdown; md is short for markdown).",
        )

    def handle(self, *args, **options) -> None:
        name, everything = options["name"], options["all"]
        if bool(name) == bool(everything):
            raise CommandError("Give either a service NAME or --all (not both, not neither).")
        service = None
        if name:
            service = Service.objects.filter(name=name).first()
            if service is None:
                raise CommandError(f"No service named '{name}'. {_known_names()}")
        elif not Service.objects.exists():
            raise CommandError("The fleet has no services registered; nothing to audit.")
        run = create_run(
            actor=f"cli:{_user()}", trigger=AuditRun.Trigger.CLI, service=service, enqueue=False
        )
        verbose = options["verbosity"] >= 2
        run = execute_run(run, log=self.stderr.write if verbose else None)
        if run.status != AuditRun.State.SUCCEEDED:
            raise CommandError(f"Audit #{run.pk} failed: {run.error}")
        fmt = {"md": "markdown"}.get(options["format"], options["format"])
        chunks, _ = stream_export(run, fmt)
        for chunk in chunks:
            self.stdout.write(chunk, ending="")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _known_names() -> str:
    names = list(Service.objects.order_by("name").values_list("name", flat=True)[:20])
    return f"Known services: {', '.join(names)}." if names else "No services are registered."
