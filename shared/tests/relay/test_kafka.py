"""The Kafka side's own logic, without a broker: when a window of batches counts as acknowledged."""

import asyncio

import pytest
from aiokafka.errors import NotLeaderForPartitionError

from bilet.relay.kafka import _all_acknowledged


async def test_a_window_is_acknowledged_once_all_its_batches_are_or_fails_with_the_first() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    both = _all_acknowledged([first, second])
    first.set_result(object())
    await asyncio.sleep(0)
    assert not both.done()
    second.set_result(object())
    await asyncio.wait_for(both, 1)

    failing, later = loop.create_future(), loop.create_future()
    window = _all_acknowledged([failing, later])
    failing.set_exception(NotLeaderForPartitionError())
    later.set_exception(NotLeaderForPartitionError())  # retrieved too: no "never retrieved" noise
    with pytest.raises(NotLeaderForPartitionError):
        await window
    assert _all_acknowledged([]).done()
