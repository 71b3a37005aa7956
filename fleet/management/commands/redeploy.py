"""`manage.py redeploy NAME [--wait] [--reason TEXT]`: redeploy one service through its cloud.

Exit codes with --wait: 0 succeeded, 1 failed (or refused), 2 unknown (check the cloud console),
3 still in flight when --timeout ran out, 4 no worker answered (the job stays queued).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.broker import BrokerUnavailable
from fleet.management.commands import _rollouts as cli
from fleet.models import Service
from fleet.operations import services as cs


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
        actor = cli.cli_actor()
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
            cli.follow(self.stdout, self.stderr, self.style, redeploy.pk, options["timeout"])
