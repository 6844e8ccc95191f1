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

# One pytest phase. A selection (`scripts/test.sh path` or `-k ...`) may hold no test of one phase:
# pytest's "no tests collected" (5) is not a failure then, but a run where neither phase
# collected anything is (a green that proved nothing).
phases_empty=0
pytest_phase() {
  local status=0
  .venv/bin/pytest "$@" || status=$?
  if [ "$status" -eq 5 ]; then
    phases_empty=$((phases_empty + 1))
    return 0
  fi
  return "$status"
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

# Two phases (ADR 0064): every test not marked `serial` in BVB_TEST_WORKERS xdist workers (0 runs
# them in this process), then the `serial` ones alone. Each worker gets a PostgreSQL server of its
# own (an event store's read horizon spans its whole server). The slowest tests are named in both.
workers=${BVB_TEST_WORKERS:-3}
if BVB_PG_INSTANCES=$((workers > 1 ? workers : 1)) scripts/infra/infra.sh up; then
  # shellcheck source=/dev/null
  [ -f var/infra.env ] && source var/infra.env
  step "pytest (parallel, $workers workers)" \
    pytest_phase -n "$workers" --dist loadgroup -m "not serial" --durations=30 "$@"
  step "pytest (serial)" pytest_phase -m serial --durations=30 "$@"
  if [ "$phases_empty" -eq 2 ]; then
    echo "no test was selected" >&2
    failed+=("pytest (nothing selected)")
  fi
else
  failed+=("infra-up")
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "All gates and tests passed."
