#!/usr/bin/env bash
# Run checkov (pinned, with hashes, in scripts/checkov/requirements.txt) over rendered Kubernetes
# manifests: `scripts/checkov/run.sh FILE.yaml`. Its tool environment is .tools/checkov, made with
# the workspace's uv (never by hand) and re-synced when the lock changes. The checks it skips, each
# with its reason, are in deploy/k8s/checkov.yaml.
set -euo pipefail
cd "$(dirname "$0")/../.."

UV=.tools/bin/uv
VENV=.tools/checkov
LOCK=scripts/checkov/requirements.txt
STAMP=$VENV/.synced-$(sha256sum "$LOCK" | cut -c1-16)

if [ ! -x "$UV" ]; then
  echo "run \`make env\` first: it installs uv into .tools" >&2
  exit 2
fi
if [ ! -f "$STAMP" ]; then
  rm -rf "$VENV"
  UV_PYTHON_DOWNLOADS=never "$UV" venv --quiet --python "${PYTHON:-python3.11}" "$VENV"
  VIRTUAL_ENV=$VENV "$UV" pip sync --quiet --require-hashes "$LOCK"
  touch "$STAMP"
fi

# Offline: no guidelines or severities fetched from Prisma Cloud.
export BC_SKIP_MAPPING=TRUE
exec "$VENV/bin/checkov" --config-file deploy/k8s/checkov.yaml --file "$@"
