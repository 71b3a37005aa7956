#!/bin/sh
# Smoke-test a built image with podman (or docker: CONTAINER=docker): migrate, then web, worker and
# beat on the host network against DATABASE_URL and REDIS_URL. Passes when /healthz reports the
# database, broker, cache and a worker as ok and every container's HEALTHCHECK passes.
#   DATABASE_URL=postgres://… REDIS_URL=redis://… deploy/smoke-image.sh fleet-console:1.0.0
set -eu
image="${1:?usage: smoke-image.sh IMAGE}"
engine="${CONTAINER:-podman}"
port="${PORT:-18080}"
name="fleet-smoke-$$"
: "${DATABASE_URL:?set DATABASE_URL}" "${REDIS_URL:?set REDIS_URL}"

run() {  # run NAME PROCESS [engine options…]
  container="$1" process="$2"
  shift 2
  "$engine" run -d --name "$name-$container" --network host --read-only --tmpfs /tmp \
    -e DATABASE_URL -e REDIS_URL -e SECRET_KEY="${SECRET_KEY:-smoke-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz}" \
    -e ALLOWED_HOSTS=localhost -e SECURE_SSL_REDIRECT=0 -e HOST=127.0.0.1 -e PORT="$port" \
    -e FLEET_WORKER_HEARTBEAT_SECONDS=2 -e FLEET_WORKER_CONCURRENCY=2 -e WEB_CONCURRENCY=1 \
    "$@" "$image" "$process" >/dev/null
}
cleanup() {
  for c in web worker beat; do
    "$engine" rm -f -t 20 "$name-$c" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

"$engine" run --rm --network host -e DATABASE_URL -e REDIS_URL \
  -e SECRET_KEY="${SECRET_KEY:-smoke-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz}" \
  "$image" migrate
run web web
run worker worker
run beat beat

i=0
until curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null | grep -q '"worker": "ok"'; do
  i=$((i + 1))
  if [ "$i" -gt 90 ]; then
    echo "FAIL: /healthz never reported a live worker:" >&2
    curl -sS "http://127.0.0.1:$port/healthz" >&2 || true
    "$engine" logs --tail 30 "$name-web" >&2 || true
    exit 1
  fi
  sleep 1
done
echo "/healthz: $(curl -fsS "http://127.0.0.1:$port/healthz")"
for c in web worker beat; do
  "$engine" healthcheck run "$name-$c" >/dev/null && echo "HEALTHCHECK $c: healthy"
done
"$engine" exec "$name-web" id
echo "PASS"
