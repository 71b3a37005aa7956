"""`manage.py release NAME --image IMAGE [--canary PERCENT] [--wait]`: deploy a new image.

Several services at once: `manage.py release [NAME ...] [--team T] [--tag T] --image IMAGE |
--image-tag TAG [--concurrency N] [--dry-run]`. Exit codes: see `_rollouts`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.broker import BrokerUnavailable
from fleet.management.commands import _rollouts as cli
from fleet.models import Service
from fleet.operations import releases


class Command(BaseCommand):
    help = "Deploy a new image (tag or digest) to a service, or a rolling release to several."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Service names in the registry.")
        parser.add_argument("--image", default="", help="The image: registry/path:tag or @sha256:…")
        parser.add_argument(
            "--image-tag",
            default="",
            help="Batch: keep each service's own repository and set this tag.",
        )
        parser.add_argument("--team", default="", help="Batch: every service of this team.")
        parser.add_argument("--tag", default="", help="Batch: every service with this tag.")
        parser.add_argument(
            "--concurrency", type=int, default=1, help="Batch: services released at once."
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what each service would get; change nothing.",
        )
        parser.add_argument(
            "--canary", type=int, default=None, metavar="PERCENT",
            help="Send PERCENT of traffic to the new revision, watch it, then promote or roll back.",
        )  # fmt: skip
        parser.add_argument(
            "--watch", type=int, default=None, metavar="SECONDS",
            help="With --canary: how long to watch its health before promoting.",
        )  # fmt: skip
        parser.add_argument(
            "--container",
            default="",
            help="Kubernetes or ECS: the container to update (when there are several).",
        )
        cli.add_wait_arguments(parser)

    def handle(self, *args, **options) -> None:
        cli.check_timeout(options)
        names = options["names"]
        batch = len(names) != 1 or options["team"] or options["tag"] or options["image_tag"]
        try:
            if options["dry_run"] or batch:
                self._batch(names, options)
            else:
                self._single(names[0], options)
        except ValidationError as exc:
            raise CommandError(_as_options(cli.problems(exc))) from exc
        except BrokerUnavailable as exc:
            raise CommandError(f"Release not started: {exc}.") from exc

    def _single(self, name: str, options: dict) -> None:
        service = Service.objects.select_related("account").filter(name=name).first()
        if service is None:
            raise CommandError(f"name: no service named '{name}'.")
        foreground = options["foreground"]
        redeploy, created = releases.request_release(
            service,
            cli.cli_actor(),
            options["image"],
            reason=options["reason"],
            canary_percent=options["canary"],
            canary_watch_s=options["watch"],
            container=options["container"],
            source="cli",
            run_in_background=not foreground,
        )
        if created:
            self.stdout.write(
                f"{redeploy.label} #{redeploy.pk} of {name} queued: {redeploy.target_image}."
            )
        else:
            self.stdout.write(
                f"A {redeploy.label.lower()} of {name} is already in flight: #{redeploy.pk} "
                f"({redeploy.status}, requested by {redeploy.actor_label})."
            )
        if foreground:
            cli.run_here(redeploy.pk)
        if options["wait"] or foreground:
            cli.follow(self.stdout, self.stderr, self.style, redeploy.pk, options["timeout"])

    def _batch(self, names: list[str], options: dict) -> None:
        if options["canary"] is not None:
            raise CommandError("--canary: a canary is for one service at a time.")
        services = releases.select_services(names, team=options["team"], tag=options["tag"])
        if options["dry_run"]:
            plan = releases.plan_batch_release(
                services, image=options["image"], image_tag=options["image_tag"]
            )
            self.stdout.write(f"Dry run: {len(plan)} service(s), nothing changes.")
            for row in plan:
                line = f"{row.service.name}: {row.image_before or '(image not read yet)'} → "
                line += row.image_after or "?"
                self.stdout.write(line + (f"  [cannot: {row.problem}]" if row.problem else ""))
            return
        batch, plan = releases.request_batch_release(
            services,
            cli.cli_actor(),
            image=options["image"],
            image_tag=options["image_tag"],
            reason=options["reason"],
            concurrency=options["concurrency"],
            source="cli",
        )
        self.stdout.write(
            f"Rolling release #{batch.pk} of {len(plan)} service(s) queued, "
            f"{batch.concurrency} at a time, stopping at the first failure:"
        )
        for row in plan:
            self.stdout.write(
                f"  {row.service.name}: {row.image_before or '?'} → {row.image_after}"
            )


def _as_options(text: str) -> str:
    """Name the command-line option for each form field in an error message."""
    for field, option in (
        ("canary_percent", "--canary"),
        ("canary_watch_s", "--watch"),
        ("image_tag", "--image-tag"),
        ("image", "--image"),
        ("container", "--container"),
        ("concurrency", "--concurrency"),
        ("reason", "--reason"),
        ("services", "names"),
    ):
        text = text.replace(f"{field}:", f"{option}:")
    return text
