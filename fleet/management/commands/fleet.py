"""`manage.py fleet import FILE.yaml [--dry-run]` and `manage.py fleet export`."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.fleetfile import MAX_FILE_BYTES, FleetFileError, export_fleet, import_fleet


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
        """The file's text, reading at most one byte past the size cap (parse refuses it then)."""
        if name == "-":
            stream = getattr(sys.stdin, "buffer", None)
            raw = (
                stream.read(MAX_FILE_BYTES + 1)
                if stream is not None
                else sys.stdin.read(MAX_FILE_BYTES + 1).encode("utf-8", "surrogatepass")
            )
        else:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"file: {name} does not exist.")
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise CommandError(
                f"file: {name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; nothing changed."
            )
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(f"file: {name} is not UTF-8 text.") from exc
