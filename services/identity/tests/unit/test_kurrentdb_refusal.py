"""Identity purges an erased participant's reservations and profile (ADR 0016), which KurrentDB
cannot do: whatever would carry out those erasures refuses to start on KurrentDB, saying why
(ADR 0058), instead of failing at the first erasure. The API itself may run there."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bilet_identity.settings import KURRENTDB_CANNOT_ERASE, IdentitySettings
from bilet_identity.worker import run

URL = "kurrentdb://kurrentdb.bilet.invalid:2113?tls=false"


def settings(tmp_path: Path, **overrides: Any) -> IdentitySettings:
    return IdentitySettings(
        var_dir=tmp_path,
        event_store="kurrentdb",
        kurrentdb_url=URL,
        read_model="sqlite",
        key_store="sqlite",
        **overrides,
    )


def test_the_embedded_feed_of_erasures_is_refused_on_kurrentdb(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="KurrentDB cannot do"):
        settings(tmp_path)
    assert settings(tmp_path, identity_embedded_feed=False).event_store == "kurrentdb"


async def test_the_worker_refuses_to_start_on_kurrentdb(tmp_path: Path) -> None:
    worker = settings(tmp_path, identity_embedded_feed=False, kafka_bootstrap="kafka:9092")
    with pytest.raises(SystemExit) as refused:
        await run(worker)
    assert refused.value.code == KURRENTDB_CANNOT_ERASE
