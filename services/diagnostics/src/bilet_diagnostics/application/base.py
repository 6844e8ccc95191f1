"""What every group of diagnostics' use cases stands on: the store and its command path
(`Transactor`), the key-sealed answers, the facts of other services (`facts.Facts`), the
instruments (`ports.Instruments`), the audit trail and the clock; and reading attempts and their
answers."""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final
from uuid import UUID

from bilet.application import Attempt as Reads
from bilet.application import Ids, Stream, Transactor, random_ids
from bilet.audit import AuditLog
from bilet.contracts import unseal_many
from bilet.crypto import FieldCipher, KeyStore
from bilet.crypto.fields import ERASED
from bilet.eventstore import EventStore
from bilet.http.auth import Role
from bilet_diagnostics.application import access
from bilet_diagnostics.application.errors import UnknownParticipant, VersionConflict
from bilet_diagnostics.application.eventlog import EVENT_LOG
from bilet_diagnostics.application.facts import Facts, Pupil
from bilet_diagnostics.application.inputs import ChoiceView, CommandContext
from bilet_diagnostics.application.ports import Form, Instruments
from bilet_diagnostics.application.sheets import SheetCache
from bilet_diagnostics.application.streams import attempt_of
from bilet_diagnostics.domain.attempt import Attempt
from bilet_diagnostics.domain.errors import UnknownAttempt
from bilet_diagnostics.domain.internal import AnswerRecorded, SheetClosed, SheetOpened

Clock = Callable[[], datetime]
# The answer of an item whose participant's key was destroyed.
ERASED_ANSWER: Final = "$erased"


def utc_now() -> datetime:
    return datetime.now(UTC)


# Forms whose parts are kept (`DiagnosticsCore.parts_of`): far more than a catalogue has.
FORMS_KEPT: Final = 256


@dataclass(frozen=True)
class FormParts:
    """What views build from a form's items, built once per form: each item's choices as a view
    shows them. (What a save checks an answer against is the form's own `options`.)"""

    form: Form
    choices: tuple[tuple[ChoiceView, ...], ...]  # per item, in the form's order

    @classmethod
    def of(cls, form: Form) -> "FormParts":
        return cls(
            form,
            tuple(tuple(ChoiceView(c.option_id, c.text) for c in i.choices) for i in form.items),
        )


@dataclass(frozen=True)
class SheetAnswers:
    """A sheet's answers as they count: the latest per item, up to the closing."""

    opened: SheetOpened
    answers: dict[str, str]  # item id → option id (or ERASED_ANSWER)
    closed: SheetClosed | None

    @property
    def erased(self) -> bool:
        return ERASED_ANSWER in self.answers.values()


class DiagnosticsCore:
    def __init__(
        self,
        store: EventStore,
        keystore: KeyStore,
        facts: Facts,
        instruments: Instruments,
        audit: AuditLog,
        *,
        clock: Clock = utc_now,
        ids: Ids = random_ids,
    ) -> None:
        self.store = store
        self.keystore = keystore
        self.cipher = FieldCipher(keystore)
        self.facts = facts
        self.instruments = instruments
        self.audit = audit
        self.clock = clock
        self.ids = ids  # a new attempt's id
        self.transactor = Transactor(store, self.cipher, EVENT_LOG, VersionConflict)
        # What saves decide on, caught up with the sheet's stream on each read (`sheets.py`).
        self.sheets = SheetCache(store, EVENT_LOG)
        # Its own commits (through `Transactor.commit`): the next save decides on the fold
        # without a read.
        self.transactor.on_append(self.sheets.appended)
        self._form_parts: dict[int, FormParts] = {}

    async def pupil(
        self, ctx: CommandContext, participant_id: UUID, today: date | None = None
    ) -> Pupil:
        """The participant's facts on `today` (default: in UTC), when they are the caller's
        (else: unknown)."""
        found = await self.facts.pupil(participant_id, today or self.clock().date())
        if found is None or not access.in_scope(ctx.principal, found):
            raise UnknownParticipant()
        return found

    async def today_of(self, pupil: Pupil) -> date:
        """Today in the participant's region (its time zone), else in UTC."""
        now = self.clock()
        return await self.facts.region_today(pupil.region_id, now) or now.date()

    async def started(self, ctx: CommandContext, reads: Reads, attempt_id: UUID) -> Attempt:
        """The attempt, when it exists and is the caller's: the pupil's own, or (the navigator)
        a pupil's of their school. Anything else is answered as unknown."""
        state = await reads.state(attempt_of(attempt_id))
        if state.participant_id is None:
            raise UnknownAttempt()
        if access.is_self(ctx.principal, state.participant_id):
            return state
        if ctx.principal.role is Role.NAVIGATOR:
            pupil = await self.facts.pupil(state.participant_id, self.clock().date())
            if pupil is not None and access.in_scope(ctx.principal, pupil):
                return state
        raise UnknownAttempt()

    async def sheet_answers(
        self, sheet: Stream, items: Collection[str] | None = None
    ) -> SheetAnswers:
        """The answers that count on a sheet: the latest per item before its closing, opened
        with the participant's key (ERASED_ANSWER when it was destroyed); only those of `items`
        when given (a save compares with the current answer of its items alone)."""
        opened: SheetOpened | None = None
        latest: dict[str, AnswerRecorded] = {}
        closed: SheetClosed | None = None
        for event in sheet.events:
            match event:
                case SheetOpened():
                    opened = event
                case AnswerRecorded() if closed is None and (
                    items is None or event.item_id in items
                ):
                    latest[event.item_id] = event
                case SheetClosed() if closed is None:
                    closed = event
        if opened is None:
            raise UnknownAttempt()
        return SheetAnswers(opened, await self.opened_answers(latest), closed)

    async def opened_answers(self, recorded: Mapping[str, AnswerRecorded]) -> dict[str, str]:
        """The options of these recorded answers (item id → option), opened with the
        participant's key (ERASED_ANSWER when it was destroyed)."""
        # One call for the sheet (one erasure check, one key lookup), not one per answer.
        opened = await unseal_many(self.cipher, list(recorded.values()))
        return {
            item_id: ERASED_ANSWER if plain["option"] is ERASED else str(plain["option"])
            for item_id, plain in zip(recorded, opened, strict=True)
        }

    def form_of(self, opened: SheetOpened) -> Form:
        """The form the sheet was started with (its grade and instrument versions)."""
        return self.instruments.form(opened.stage, opened.grade, opened.instruments)

    def parts_of(self, form: Form) -> FormParts:
        """The form's `FormParts`, made once: forms are immutable and few, and the port hands
        back the one it built (a view rebuilt a tuple per item, every time)."""
        parts = self._form_parts.get(id(form))
        if parts is None or parts.form is not form:  # kept with its form: an id is not reused
            if len(self._form_parts) >= FORMS_KEPT:
                self._form_parts.clear()
            parts = self._form_parts[id(form)] = FormParts.of(form)
        return parts
