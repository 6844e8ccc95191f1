"""Secrets mounted as files (a Kubernetes Secret's key, a Vault agent's output): how every
`BVB_*_FILE` setting is read. Files are read when the client that needs them is built, not when
the settings load, so a secret rotated in place reaches the next connection without a restart.
Messages name the setting and the file, never the secret's value."""

from pathlib import Path


class SecretFileError(ValueError):
    """A secret file cannot be read, or is empty."""


def read_secret_file(path: Path, what: str, error: type[ValueError] = SecretFileError) -> str:
    """A secret mounted as a file: its content without the trailing newline editors add.
    `what` names the setting in the message; `error` is the caller's own kind of settings error."""
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as failure:
        raise error(f"{what}: cannot read {path} ({failure.strerror})") from None
    if not value:
        raise error(f"{what}: {path} is empty")
    return value
