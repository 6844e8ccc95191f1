"""The searchable form of surnames, for a school's list searched by surname prefix (ADR 0044).

The read model holds every name only sealed, and stays so: the searchable form lives here, in
the API process, apart from it. For each pupil whose name the portfolio has opened to show it
(a list or a portfolio read by a names-entitled caller), it keeps a keyed hash (HMAC-SHA256,
truncated) of every prefix of the folded surname — never the surname — under a key made at
random for this process: nothing of it is written anywhere, so nothing of it outlives the
process, and a copy of the process's memory gives hashes that only that process's key relates
to a name. An entry is tied to the sealed envelope it was made from: a corrected name (a new
envelope) is indexed again, and an erased pupil (row marked erased, or key destroyed) is
dropped from it.

Folding is identity's (docs/adr/0041): case, «ё»/«е», spacing and apostrophes do not tell two
surnames apart, nor two searches for one.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Final

from bilet_portfolio.domain.views import ParticipantRecord

_LABEL: Final = b"bilet.portfolio.surname-prefix.v1\x00"
_DIGEST_BYTES: Final = 16
_SPACES: Final = re.compile(r"\s+")


def fold_surname(text: str) -> str:
    """A surname (or the start of one) in the form two spellings of it agree on."""
    return _SPACES.sub(" ", text.strip()).casefold().replace("ё", "е").replace("’", "'")


def _envelope_fingerprint(sealed_name: str) -> bytes:
    return hashlib.sha256(sealed_name.encode()).digest()[:_DIGEST_BYTES]


class SurnameIndex:
    """Participant id → the keyed hashes of their surname's prefixes, for this process."""

    __slots__ = ("_entries", "_key")

    def __init__(self, key: bytes | None = None) -> None:
        self._key = secrets.token_bytes(32) if key is None else key
        # id → (school, envelope fingerprint, prefix hashes)
        self._entries: dict[str, tuple[str | None, bytes, frozenset[bytes]]] = {}

    def __repr__(self) -> str:
        return f"SurnameIndex(<key hidden>, {len(self._entries)} pupils)"

    def __len__(self) -> int:
        return len(self._entries)

    def _hash(self, folded: str) -> bytes:
        return hmac.new(self._key, _LABEL + folded.encode(), hashlib.sha256).digest()[
            :_DIGEST_BYTES
        ]

    def unindexed(self, participants: Iterable[ParticipantRecord]) -> list[ParticipantRecord]:
        """Those of `participants` with a name whose current envelope is not indexed yet."""
        missing = []
        for participant in participants:
            if participant.sealed_name is None or participant.erased:
                self.forget(participant.participant_id)
                continue
            entry = self._entries.get(participant.participant_id)
            if entry is None or entry[1] != _envelope_fingerprint(participant.sealed_name):
                missing.append(participant)
        return missing

    def learn(self, participant: ParticipantRecord, last_name: str | None, erased: bool) -> None:
        """Index the surname just opened from `participant`'s envelope (drop it when erased)."""
        if erased or participant.erased or participant.sealed_name is None:
            self.forget(participant.participant_id)
            return
        folded = fold_surname(last_name or "")
        prefixes = frozenset(self._hash(folded[:n]) for n in range(1, len(folded) + 1))
        self._entries[participant.participant_id] = (
            participant.school_id,
            _envelope_fingerprint(participant.sealed_name),
            prefixes,
        )

    def forget(self, participant_id: str) -> None:
        self._entries.pop(participant_id, None)

    def retain(self, school_id: str, searchable: Iterable[ParticipantRecord]) -> None:
        """Drop the entries of `school_id`'s pupils who are no longer `searchable` there (erased,
        closed, moved): what a search of the school does first."""
        kept = {participant.participant_id for participant in searchable}
        for participant_id in [
            participant_id
            for participant_id, entry in self._entries.items()
            if entry[0] == school_id and participant_id not in kept
        ]:
            del self._entries[participant_id]

    def matching(self, prefix: str, among: Iterable[ParticipantRecord]) -> frozenset[str]:
        """The ids among `among` whose indexed surname (of their current envelope) starts with
        `prefix`."""
        wanted = self._hash(fold_surname(prefix))
        found = set()
        for participant in among:
            entry = self._entries.get(participant.participant_id)
            if (
                entry is not None
                and participant.sealed_name is not None
                and entry[1] == _envelope_fingerprint(participant.sealed_name)
                and wanted in entry[2]
            ):
                found.add(participant.participant_id)
        return frozenset(found)
