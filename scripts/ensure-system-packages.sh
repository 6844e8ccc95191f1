#!/usr/bin/env bash
# Makes sure the machine has what the real servers of `make test` need: Java 17+ and Maven (for the
# Apache Kafka jars) and the PostgreSQL 15 server binaries. As root on Debian it installs what is
# missing; otherwise it says exactly what to install and fails.
set -euo pipefail

missing=()
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [ -n "$major" ] && [ "${major%%.*}" -ge 17 ]
}
pg_bindir() {
  local dir
  for dir in "${BVB_PG_BINDIR:-}" /usr/lib/postgresql/15/bin; do
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

# Go builds kustomize and the manifest validator (tests/deploy). Debian's golang-go is too old
# (1.19), so it is not installed from apt: this machine kind ships Go; elsewhere, install it from
# the Go distribution; without it the deploy tests would fail, so say it here, first.
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "Go 1.24+ is missing: the Kubernetes manifest tests build kustomize and a validator with it." >&2
  echo "Install it from the Go distribution into /usr/local/go (Debian's golang-go is too old)." >&2
  exit 1
fi

java_ok || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
pg_bindir >/dev/null || missing+=(postgresql-15)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

# Kafka and PostgreSQL are reached through these; BVB_* variables pointing at existing servers make
# the local ones unnecessary, so then nothing is installed.
if [ -n "${BVB_KAFKA_BOOTSTRAP:-}" ] && [ -n "${BVB_DATABASE_URL:-}" ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing the machine packages the local servers need: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  exit 0
fi

echo "Missing on this machine: ${missing[*]}." >&2
echo "Install them with:  sudo apt-get install ${missing[*]}" >&2
echo "(Java 17+ and Maven fetch and run the Apache Kafka broker; postgresql-15 provides the server.)" >&2
echo "Or point BVB_KAFKA_BOOTSTRAP and BVB_DATABASE_URL at existing servers." >&2
exit 1
