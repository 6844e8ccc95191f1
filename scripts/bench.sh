#!/usr/bin/env bash
# `make bench`: start Kafka and PostgreSQL as `make test` does (reusing servers that already run),
# then run the benchmarks with the given arguments (`--quick`, `--only NAME`). Stops afterwards
# only what this run started; servers that were running before are left running.
set -uo pipefail
cd "$(dirname "$0")/.."

answers() {  # host port: does something accept connections there?
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

already_running=false
if answers 127.0.0.1 9092 && answers 127.0.0.1 "${BVB_PG_PORT:-55432}"; then
  already_running=true
fi
stop_infra() {
  if [ "$already_running" = false ]; then
    echo "==> infra-down (started by this run)" >&2
    scripts/infra/infra.sh down >&2 || true
  fi
}
trap stop_infra EXIT

# infra.sh talks on stdout; the benchmarks' stdout is JSON lines only.
scripts/infra/infra.sh up >&2 || { echo "bench: Kafka/PostgreSQL did not start" >&2; exit 1; }
# shellcheck source=/dev/null
[ -f var/infra.env ] && source var/infra.env
.venv/bin/python -m benchmarks "$@"
