"""Identity's event log (`EVENT_LOG`) keeps what it decoded lately only where an erasure can take
it out: of a reservation (purged on the holder's erasure), only events naming a participant,
in every process, whether or not its store was told it may purge (docs/adr/0099, amended)."""

from uuid import UUID

from bilet.application import Part
from bilet.contracts import EventMetadata
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import NO_STREAM
from bilet.eventstore.memory import InMemoryEventStore
from bilet_identity.application.eventlog import EVENT_LOG
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain.internal import (
    ChildReserved,
    DuplicateReviewResolved,
    ReviewOutcome,
)

KEY = "a" * 64
HOLDER = UUID("7d7d7d7d-0000-4000-8000-000000000001")
MERGED = UUID("7d7d7d7d-0000-4000-8000-000000000002")
META = EventMetadata(actor="registrar-1")


async def test_a_reservations_resolved_review_is_decoded_on_every_read_its_claim_kept() -> None:
    store = InMemoryEventStore()  # as the API process's: never told it may purge
    stream_id = reservations.stream_id(KEY)
    events = [
        ChildReserved(reservation_key=KEY, participant_id=HOLDER, person_key="b" * 64),
        DuplicateReviewResolved(
            reservation_key=KEY,
            ordinal=0,
            outcome=ReviewOutcome.SAME_CHILD,
            merged_participant_id=MERGED,
        ),
    ]
    await store.append(stream_id, [EVENT_LOG.encode(event, META) for event in events])

    first = await EVENT_LOG.read(store, stream_id)
    again = await EVENT_LOG.read(store, stream_id)

    assert first.events == again.events == tuple(events)
    assert again.events[0] is first.events[0]  # kept: `forget` of the holder finds it
    assert again.events[1] is not first.events[1]  # names nobody: never kept


async def test_its_own_commits_are_kept_for_the_views_that_read_them_back() -> None:
    store = InMemoryEventStore()
    claim = ChildReserved(reservation_key=KEY, participant_id=HOLDER, person_key="b" * 64)
    cipher = FieldCipher(InMemoryKeyStore())
    part = Part(reservations.stream_id(KEY), [claim], NO_STREAM)
    [(append, [sealed])] = await EVENT_LOG.prepare_sealed(cipher, META, [part])
    await store.append_many([append])
    [record] = await store.read_all()
    assert EVENT_LOG.decode_own(record, record.stream_id) is sealed  # not decoded again
