"""`manage.py up`: migrate, then run web + Celery worker + Celery beat (+ the demo fleet) together.

Ctrl-C (or SIGTERM) stops every process it started. On the embedded default it needs no Postgres and no
Redis; with DATABASE_URL and REDIS_URL set it uses them.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.demo.aws import MotoMissing
from fleet.demo.clouds import on_demo_clouds, start_demo_clouds
from fleet.demo.fleet import demo_fleet
from fleet.demo.seed import seed_demo_history, warm_up_args
from fleet.demo.servers import DEMO_ORDER
from fleet.fleetfile import import_fleet


def free_ports(count: int) -> list[int]:
    """Ports the OS says are free right now (held open together so they differ)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


# A process that exits is started again after 1 s, 2 s, 4 s, ... at most 30 s; the count starts
# again once it has stayed up this long.
MAX_BACKOFF_S = 30
STABLE_AFTER_S = 60


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM stops everything; a second one while stopping is ignored, so the children
    are never abandoned half-stopped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Start the console: web, Celery worker and beat, and a demo fleet of real MCP servers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Web port (default 8000).")
        parser.add_argument("--no-demo", action="store_true", help="Do not start the demo fleet.")

    def handle(self, *args, **options) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port: {port} is not a TCP port (1-65535).")
        if wait_for_port(port, timeout=0):
            raise CommandError(f"--port: {port} is already in use; choose another with --port N.")
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.argv: dict[str, list[str]] = {}
        self.demo_clouds = None
        self.webhook_page = ""
        signal.signal(signal.SIGINT, _stop_like_ctrl_c)
        signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
        try:
            self._progress("Applying database migrations…")
            call_command("migrate", interactive=False, verbosity=0)
            self._progress("Collecting static files…")
            call_command("collectstatic", interactive=False, verbosity=0)
            password = self._ensure_admin()
            if not options["no_demo"]:
                self._progress(
                    "Starting the demo fleet (real MCP servers on loopback) on emulators of "
                    "Kubernetes, Cloud Run, ECS and Container Apps…"
                )
                self._start_demo()
                # Before the workers start: their reaper fails any run it finds "running" without
                # a worker, and the history's tasks run in this process.
                self._seed_demo()
            self._progress("Starting the Celery workers (probes; everything else) and beat…")
            self._start_celery()
            self._start(
                "web",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "console.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
            )
            self._progress(f"Starting the web process on port {port}…")
            if not wait_for_port(port, timeout=180):
                raise CommandError("The web process did not start listening; see its output above.")
            self._announce(port, password)
            self._watch()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_all()

    def _progress(self, message: str) -> None:
        """One line per step, flushed at once, so a slow first start never looks stuck."""
        self.stdout.write(message)
        self.stdout.flush()

    def _ensure_admin(self) -> str:
        """A fresh generated password every start: nothing fixed, nothing to leak from the docs."""
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@localhost"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name="admin"))
        return password

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        proc = self._spawn(argv)
        self.argv[name] = argv
        self.children.append((name, proc))
        return proc

    def _spawn(self, argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen(argv, env=os.environ.copy(), cwd=settings.BASE_DIR)

    def _start_demo(self) -> None:
        *ports, webhook_port = free_ports(len(DEMO_ORDER) + 1)
        state = settings.VAR_DIR / "demo"
        self._start(
            "demo webhook receiver",
            [sys.executable, "-m", "fleet.demo.webhook", "--port", str(webhook_port),
             "--store", str(state / "webhook.jsonl")],
        )  # fmt: skip
        self._start(
            "demo fleet",
            [sys.executable, "-m", "fleet.demo.servers", "--ports", ",".join(map(str, ports)),
             *warm_up_args()],
        )  # fmt: skip
        if not all(wait_for_port(p, timeout=120) for p in [*ports, webhook_port]):
            raise CommandError("The demo MCP servers did not start; see their output above.")
        urls = {name: f"http://127.0.0.1:{port}" for name, port in zip(DEMO_ORDER, ports, strict=True)}  # fmt: skip
        try:
            self.demo_clouds = start_demo_clouds(urls, state)
        except MotoMissing as exc:
            raise CommandError(f"The demo cannot start: {exc}.") from None
        # FLEET_CLOUD_EMULATOR=1 (honoured for loopback endpoints only), the Google APIs'
        # emulator endpoints and the Container Apps certificate, for this process and the
        # worker and beat started after it.
        os.environ.update(self.demo_clouds.env)
        fleet_file = on_demo_clouds(
            demo_fleet(dict(zip(DEMO_ORDER, ports, strict=True))), self.demo_clouds.accounts()
        )
        report = import_fleet(fleet_file, actor="up")
        self.stdout.write(
            f"Demo fleet on 127.0.0.1 ports {ports[0]}-{ports[-1]}: {report.summary()}; "
            "emulated clouds: "
            + ", ".join(f"{p} {a['endpoint']}" for p, a in self.demo_clouds.accounts().items())
            + "."
        )
        self.webhook_page = f"http://127.0.0.1:{webhook_port}/"

    def _seed_demo(self) -> None:
        """The demo's history, made in this process through the console's service functions."""
        self._progress("Making the demo's history (checks, a redeploy, budgets, an audit)…")
        started = time.monotonic()
        try:
            made = seed_demo_history(webhook_url=f"{self.webhook_page}alerts", log=self._progress)
        except Exception as exc:  # the console itself still starts; say what went wrong
            traceback.print_exc()
            self.stderr.write(
                f"The demo's history could not be made ({exc}); carrying on without it."
            )
            return
        took = time.monotonic() - started
        already = "" if made else " (all of it made by an earlier start)"
        self._progress(f"Demo history ready in {took:.0f} s{already}.")

    def _start_celery(self) -> None:
        """Two worker pools, as the deployment artefacts run them (deploy/): health checks on
        their own, so a slow cloud call or a fleet audit never delays a probe; and beat."""
        celery = [sys.executable, "-m", "celery", "-A", "console"]
        worker = ["worker", "--loglevel", "WARNING", "--pool", "threads"]
        worker += ["--without-gossip", "--without-mingle"]
        others = [q for q in settings.FLEET_TASK_QUEUES if q != "probes"]
        self._start(
            "probe worker",
            celery + worker + ["--queues", "probes", "--concurrency", "4", "-n", "probes@%h"],
        )
        self._start(
            "worker",
            celery + worker + ["--queues", ",".join(others), "--concurrency", "4", "-n", "all@%h"],
        )
        self._start(
            "beat",
            celery
            + [
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        )

    def _announce(self, port: int, password: str) -> None:
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(
            self.style.SUCCESS(f"\nMCP Fleet Console is running at http://127.0.0.1:{port}/")
        )
        self.stdout.write(f"  Log in as admin with password: {password}")
        self.stdout.write(
            f"  (a new password is generated at every start; database: {db}, "
            f"broker: {settings.CELERY_BROKER_URL.split(':')[0]})"
        )
        if self.webhook_page:
            self.stdout.write(f"  Demo alerts arrive at the webhook receiver: {self.webhook_page}")
        self.stdout.write("  Press Ctrl-C to stop web, worker, beat and the demo fleet.\n")

    def _watch(self) -> None:
        """Restart any process that exits (a worker killed by the OOM killer, say), with backoff:
        1 s, then doubling up to 30 s; the count starts again once it has stayed up for a minute.
        The others keep running meanwhile, so the web keeps serving while a worker comes back."""
        restarts: dict[str, int] = {}
        started = {name: time.monotonic() for name, _ in self.children}
        due: dict[str, float] = {}
        while True:
            now = time.monotonic()
            for i, (name, proc) in enumerate(self.children):
                if proc.poll() is None:
                    if restarts.get(name) and now - started[name] > STABLE_AFTER_S:
                        restarts[name] = 0
                    continue
                if name not in due:
                    restarts[name] = restarts.get(name, 0) + 1
                    delay = min(MAX_BACKOFF_S, 2 ** (restarts[name] - 1))
                    due[name] = now + delay
                    self.stderr.write(
                        f"The {name} process exited ({_exit_reason(proc.returncode)}); "
                        f"restarting it in {delay} s."
                    )
                elif now >= due[name]:
                    del due[name]
                    self.children[i] = (name, self._spawn(self.argv[name]))
                    started[name] = now
                    self.stdout.write(
                        f"Restarted the {name} process (pid {self.children[i][1].pid})."
                    )
            time.sleep(0.5)

    def _stop_all(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # also when stopping after a child exited
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it.")
                proc.kill()
                proc.wait()
        self.children.clear()
        if self.demo_clouds is not None:
            self.demo_clouds.stop()
            self.demo_clouds = None
