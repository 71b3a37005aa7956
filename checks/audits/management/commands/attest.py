"""`manage.py attest RULE (--team T | --environment E | --tag X | --service NAME ...) --note N`:
attest one manual rule for many services in one step (audit-logged, source "cli")."""

from __future__ import annotations

import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from checks.audits.services import attest_bulk


class Command(BaseCommand):
    help = (
        "Attest that a manual audit rule holds for every service matching all the given "
        "selectors (team, environment, tag, service names), with a note and an optional expiry."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("rule", help="The manual rule's id, e.g. security.rate-limiting.")
        parser.add_argument("--team", default="")
        parser.add_argument("--environment", default="")
        parser.add_argument("--tag", default="")
        parser.add_argument(
            "--service", action="append", default=[], help="A service name (repeatable)."
        )
        parser.add_argument("--note", required=True, help="What was checked, and how.")
        parser.add_argument(
            "--expires", default="", help="Last day it holds, YYYY-MM-DD (default: the policy's)."
        )

    def handle(self, *args, **options) -> None:
        try:
            done = attest_bulk(
                actor=f"cli:{_user()}",
                source="cli",
                rule_id=options["rule"],
                note=options["note"],
                team=options["team"],
                environment=options["environment"],
                tag=options["tag"],
                services=options["service"],
                expires_on=options["expires"] or None,
            )
        except ValidationError as exc:
            flags = {"expires_on": "expires", "services": "service", "selection": "selection"}
            raise CommandError(
                "; ".join(
                    f"{flags.get(field, field)}: {' '.join(errors)}"
                    for field, errors in exc.message_dict.items()
                )
            ) from None
        count = len(done.services)
        self.stdout.write(
            f"Attested {done.rule_id} for {count} service{'s' if count != 1 else ''}: "
            f"{', '.join(done.services)} (valid until {done.expires_at:%Y-%m-%d %H:%M} UTC)."
        )
        if done.skipped:
            self.stdout.write(
                f"Skipped (the rule does not concern them): {', '.join(done.skipped)}."
            )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
