"""The folds of diagnostics' aggregates: which stream, from which initial state, by which
`evolve` (`bilet.application.Fold`)."""

from dataclasses import dataclass, replace
from uuid import UUID

from bilet.application import Fold
from bilet.contracts.catalogue.diagnostics import InstrumentVersionPublished
from bilet.contracts.vocabulary import Instrument
from bilet_diagnostics.domain import answer_sheet, attempt, participant
from bilet_diagnostics.domain.answer_sheet import Sheet
from bilet_diagnostics.domain.attempt import Attempt
from bilet_diagnostics.domain.participant import Record


def attempt_of(attempt_id: UUID) -> Fold[Attempt]:
    return Fold(attempt.stream_id(attempt_id), attempt.initial(attempt_id), attempt.evolve)


def sheet_of(attempt_id: UUID) -> Fold[Sheet]:
    return Fold(
        answer_sheet.stream_id(attempt_id), answer_sheet.initial(attempt_id), answer_sheet.evolve
    )


def record_of(participant_id: UUID) -> Fold[Record]:
    return Fold(
        participant.stream_id(participant_id),
        participant.initial(participant_id),
        participant.evolve,
    )


@dataclass(frozen=True)
class PublishedVersions:
    """The versions of one instrument published so far (stream `instrument-<instrument>`)."""

    versions: frozenset[str] = frozenset()


def _published(state: PublishedVersions, event: InstrumentVersionPublished) -> PublishedVersions:
    return replace(state, versions=state.versions | {event.version})


def instrument_of(instrument: Instrument) -> Fold[PublishedVersions]:
    stream_id = f"{InstrumentVersionPublished.stream_category}-{instrument.value}"
    return Fold(stream_id, PublishedVersions(), _published)
