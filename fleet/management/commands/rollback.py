"""`manage.py rollback NAME [--to REVISION] [--wait]`: return a service to a recorded revision.

Without --to, the previous revision. Exit codes: see `_rollouts`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.broker import BrokerUnavailable
from fleet.management.commands import _rollouts as cli
from fleet.models import Service
from fleet.operations import releases
from fleet.operations.clouds.errors import CloudError


class Command(BaseCommand):
    help = "Roll a service back to the previous (or a given) recorded revision."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The service's name in the registry.")
        parser.add_argument(
            "--to", default="", metavar="REVISION", help="The revision (default: the previous)."
        )
        parser.add_argument(
            "--list", action="store_true", help="List the recorded revisions and stop."
        )
        cli.add_wait_arguments(parser)

    def handle(self, *args, **options) -> None:
        cli.check_timeout(options)
        name = options["name"]
        service = Service.objects.select_related("account").filter(name=name).first()
        if service is None:
            raise CommandError(f"name: no service named '{name}'.")
        try:
            if options["list"]:
                return self._list(service)
            foreground = options["foreground"]
            redeploy, created = releases.request_rollback(
                service,
                cli.cli_actor(),
                options["to"],
                reason=options["reason"],
                source="cli",
                run_in_background=not foreground,
            )
        except ValidationError as exc:
            raise CommandError(cli.problems(exc).replace("revision:", "--to:")) from exc
        except BrokerUnavailable as exc:
            raise CommandError(f"Rollback of {name} not started: {exc}.") from exc
        target = (
            f"revision {redeploy.target_revision}"
            if redeploy.target_revision
            else "the previous revision"
        )
        if created:
            self.stdout.write(f"Rollback #{redeploy.pk} of {name} to {target} queued.")
        else:
            self.stdout.write(
                f"A {redeploy.label.lower()} of {name} is already in flight: #{redeploy.pk} "
                f"({redeploy.status}, requested by {redeploy.actor_label})."
            )
        if foreground:
            cli.run_here(redeploy.pk)
        if options["wait"] or foreground:
            cli.follow(self.stdout, self.stderr, self.style, redeploy.pk, options["timeout"])

    def _list(self, service: Service) -> None:
        try:
            revisions = releases.list_revisions(service)
        except CloudError as exc:
            raise CommandError(str(exc)) from exc
        for revision in revisions:
            share = "" if revision.traffic_percent is None else f" {revision.traffic_percent}%"
            mark = " (serving)" if revision.active else ""
            self.stdout.write(f"{revision.name}{mark}{share}  {revision.image}  {revision.created}")
