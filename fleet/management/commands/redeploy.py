"""`manage.py redeploy NAME [--wait] [--reason TEXT]`: redeploy one service through its cloud.

Exit codes with --wait: 0 succeeded, 1 failed (or refused), 2 unknown (check the cloud console),
3 still in flight when --timeout ran out.
"""

from __future__ import annotations

import getpass
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.broker import BrokerUnavailable
from fleet.models import Service
from fleet.operations import services as cs
from fleet.operations.models import Redeploy


class Command(BaseCommand):
    help = "Redeploy a service through its cloud's API (same image, fresh instances)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The service's name in the registry.")
        parser.add_argument("--reason", default="", help="Why (goes to the audit log).")
        parser.add_argument(
            "--wait", action="store_true", help="Follow the progress until it finishes."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=1800,
            help="With --wait: give up following after this many seconds (default 1800).",
        )

    def handle(self, *args, **options) -> None:
        name = options["name"]
        if options["timeout"] <= 0:
            raise CommandError(
                f"--timeout: must be a positive number of seconds (got {options['timeout']})."
            )
        service = Service.objects.select_related("account").filter(name=name).first()
        if service is None:
            raise CommandError(f"name: no service named '{name}'.")
        actor = f"cli:{_user()}"
        try:
            redeploy, created = cs.request_redeploy(service, actor, options["reason"], source="cli")
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(problems) from exc
        except BrokerUnavailable as exc:
            raise CommandError(f"Redeploy of {name} not started: {exc}.") from exc
        if created:
            self.stdout.write(f"Redeploy #{redeploy.pk} of {name} queued.")
        else:
            self.stdout.write(
                f"A redeploy of {name} is already in flight: #{redeploy.pk} "
                f"({redeploy.status}, requested by {redeploy.actor_label})."
            )
        if options["wait"]:
            self._follow(redeploy.pk, options["timeout"])

    def _follow(self, pk: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shown = 0
        while True:
            redeploy = Redeploy.objects.get(pk=pk)
            lines = redeploy.log.splitlines()
            for line in lines[shown:]:
                self.stdout.write(line)
            shown = len(lines)
            if redeploy.is_finished:
                break
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Redeploy #{pk} is still {redeploy.status} after {timeout:g}s; "
                    "it goes on in the background.",
                    returncode=3,
                )
            time.sleep(1)
        summary = (
            f"Redeploy #{pk}: {redeploy.get_status_display()}"
            f" · revision {redeploy.revision_before or '?'} → {redeploy.revision_after or '?'}"
            + (f" · {redeploy.duration_s:.1f}s" if redeploy.duration_s is not None else "")
        )
        if redeploy.status == "succeeded":
            self.stdout.write(self.style.SUCCESS(summary))
            return
        self.stderr.write(summary)
        raise CommandError(redeploy.error, returncode=2 if redeploy.status == "unknown" else 1)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
