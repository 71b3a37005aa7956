#!/bin/sh
# The console's processes, one per container: web | worker | beat | migrate.
# Settings come from the environment (README, "Deploying the console"); this script only picks the
# command line. Each process replaces the shell (exec), so it receives SIGTERM directly.
set -eu

process="${1:-web}"
[ "$#" -gt 0 ] && shift
run_dir="${FLEET_RUN_DIR:-/tmp}"
mkdir -p "$run_dir"
printf '%s\n' "$process" > "$run_dir/fleet-process"
cd "$(dirname "$0")/.."

case "$process" in
  web)
    # Several uvicorn worker processes behind one port; the web tier keeps no state of its own
    # (sessions in the database, cache and broker in Redis).
    exec python -m uvicorn console.asgi:application \
      --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-2}" \
      --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
      --timeout-graceful-shutdown "${WEB_GRACEFUL_SECONDS:-20}" \
      --no-server-header --log-level "$(printf '%s' "${LOG_LEVEL:-info}" | tr 'A-Z' 'a-z')" "$@"
    ;;
  worker)
    # FLEET_WORKER_QUEUES: comma-separated queues (probes, cloud, audits, notifications, celery);
    # empty consumes them all. One pool per queue kind keeps health checks ahead of slow clouds.
    export FLEET_HEARTBEAT_FILE="$run_dir/fleet-heartbeat"
    queues="${FLEET_WORKER_QUEUES:-}"
    set -- --pool "${FLEET_WORKER_POOL:-threads}" \
      --concurrency "${FLEET_WORKER_CONCURRENCY:-8}" \
      --hostname "${FLEET_WORKER_NAME:-${queues:-all}@%h}" \
      --without-gossip --without-mingle --loglevel "${LOG_LEVEL:-INFO}" "$@"
    if [ -n "$queues" ]; then
      set -- --queues "$queues" "$@"
    fi
    exec python -m celery -A console worker "$@"
    ;;
  beat)
    # Run one; a second one stands by on the leader lock (console/beat.py) instead of doubling.
    export FLEET_HEARTBEAT_FILE="$run_dir/fleet-heartbeat"
    exec python -m celery -A console beat --pidfile= --loglevel "${LOG_LEVEL:-INFO}" "$@"
    ;;
  migrate)
    # Run once per release, before the new web and workers start (a Kubernetes Job, an ECS task,
    # a Cloud Run job, a Container Apps job). Migrations are additive-first (README, upgrades).
    exec python manage.py migrate --noinput "$@"
    ;;
  *)
    echo "usage: entrypoint.sh web|worker|beat|migrate [extra arguments]" >&2
    exit 64
    ;;
esac
