"""`manage.py fleet import FILE.yaml [--dry-run]` and `manage.py fleet export`."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.fleetfile import FleetFileError, export_fleet, import_fleet


class Command(BaseCommand):
    help = "Import or export the fleet file (YAML)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="Upsert accounts and services from a YAML file.")
        imp.add_argument("file", help="Path to the fleet file, or - for standard input.")
        imp.add_argument("--dry-run", action="store_true", help="Print the diff, change nothing.")
        sub.add_parser("export", help="Print the registry as a fleet file.")

    def handle(self, *args, **options) -> None:
        if options["action"] == "export":
            self.stdout.write(export_fleet(), ending="")
            return
        text = self._read(options["file"])
        actor = f"cli:{getpass.getuser()}"
        try:
            report = import_fleet(text, actor=actor, dry_run=options["dry_run"])
        except FleetFileError as exc:
            raise CommandError(
                "The fleet file was not applied; nothing changed.\n" + "\n".join(exc.errors)
            ) from exc
        for line in report.diff:
            self.stdout.write(line)
        prefix = "Dry run, nothing changed: would be " if options["dry_run"] else ""
        self.stdout.write(prefix + report.summary())

    def _read(self, name: str) -> str:
        if name == "-":
            return sys.stdin.read()
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"file: {name} does not exist.")
        return path.read_text()
