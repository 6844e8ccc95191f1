# syntax=docker/dockerfile:1
# Every service's image, from this one definition: the build argument SERVICE says which
# (docs/adr/0013-one-image-definition.md). Build from the repository root, the uv workspace (the
# context is filtered by .dockerignore):
#   docker build --build-arg SERVICE=identity -t bilet/identity:0.1.0 .
# The image holds that service's package, the kernel and their locked dependencies, nothing else.
# It starts the service's HTTP API (`python -m bilet.http.serve`, port 8000, JSON logs); its
# projection worker and relay run from the same image with another command (deploy/k8s).
# tests/deploy/test_dockerfile.py reads this file: there is no Docker engine where tests run.

# Build and runtime share one base, so the venv's interpreter path (/usr/local/bin/python3.11)
# exists in both. Pinned by tag; pin the digest too in the registry that builds the images.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------- build: the locked venv
FROM ${PYTHON_IMAGE} AS build
# identity, consent, diagnostics, events, portfolio or recommender (bilet.services); no default.
ARG SERVICE
RUN test -n "${SERVICE}" && test "${SERVICE}" = "${SERVICE%%[!a-z]*}" \
    || { echo "build with --build-arg SERVICE=<service> (lowercase letters)" >&2; exit 1; }
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install uv==0.13.8
WORKDIR /src

# Third-party dependencies first: this layer is rebuilt only when the lock or a pyproject changes.
# uv reads every workspace member's pyproject.toml to check that uv.lock is current (--locked).
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY host/pyproject.toml host/
COPY services/identity/pyproject.toml services/identity/
COPY services/consent/pyproject.toml services/consent/
COPY services/diagnostics/pyproject.toml services/diagnostics/
COPY services/events/pyproject.toml services/events/
COPY services/portfolio/pyproject.toml services/portfolio/
COPY services/recommender/pyproject.toml services/recommender/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package "bilet-${SERVICE}" --no-editable --no-install-workspace

# Then the kernel and this service only, installed as wheels (--no-editable): the runtime stage
# takes /app/.venv alone, without the sources.
COPY shared/src shared/src
COPY services/${SERVICE}/src services/${SERVICE}/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package "bilet-${SERVICE}" --no-editable

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="bilet-${SERVICE}" \
    org.opencontainers.image.description="Bilet ${SERVICE} service"
# A fixed numeric user, so that Kubernetes' runAsNonRoot/runAsUser can check it (deploy/k8s uses
# the same uid). No home, no login shell.
RUN groupadd --system --gid 10001 bilet \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin bilet
# Owned by root and read-only to the process: the root filesystem can be mounted read-only.
COPY --from=build /app/.venv /app/.venv
# Bytecode was compiled at build time; nothing is written at run time except under /tmp
# (an emptyDir in Kubernetes). BVB_SERVICE tells the entry point which service this image is.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    BVB_SERVICE=${SERVICE}
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Exec form: Python is PID 1 and uvicorn gets SIGTERM itself, no shell in between. Proxy headers
# are trusted from FORWARDED_ALLOW_IPS (uvicorn's variable; deploy/k8s sets the ingress's
# network); a stop gives requests under way 20 s.
ENTRYPOINT ["python", "-m", "bilet.http.serve", "--host", "0.0.0.0", "--port", "8000"]
