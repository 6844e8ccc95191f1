#!/usr/bin/env bash
# `make test`: the quality gates, then every test against real Kafka and PostgreSQL servers.
# Starts the servers unless they already run (or BVB_* points at existing ones) and stops what it
# started, whatever happens. Every step runs even if an earlier one failed, so one CI run reports
# everything; the exit status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() {
  local name=$1
  shift
  echo "==> $name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

answers() {  # host port: does something accept connections there?
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

step "lint" make --no-print-directory lint

# Servers that were running before this run belong to someone else: leave them running.
already_running=false
if answers 127.0.0.1 9092 && answers 127.0.0.1 "${BVB_PG_PORT:-55432}"; then
  already_running=true
fi
stop_infra() {
  if [ "$already_running" = false ]; then
    echo "==> infra-down"
    scripts/infra/infra.sh down || true
  fi
}
trap stop_infra EXIT

if scripts/infra/infra.sh up; then
  # shellcheck source=/dev/null
  [ -f var/infra.env ] && source var/infra.env
  # The slowest tests named in every run, so that what makes `make test` long is visible in CI.
  step "pytest" .venv/bin/pytest --durations=30 "$@"
else
  failed+=("infra-up")
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "All gates and tests passed."
