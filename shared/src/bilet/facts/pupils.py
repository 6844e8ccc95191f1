"""The pupil's columns a facts projection folds from consent's published events, and identity's
merge of two profiles: the consent in force (its id, purposes and last day), the erasure and
the kept profile of a merged one. Diagnostics and events keep them alike in their own pupils'
table; `PupilConsentColumns` is told which table, and what else an erasure clears there.

Each change is confined to the participant's consent stream (or to the merged profile's
participant stream), so any interleaving of sources builds the same rows.
"""

from collections.abc import Iterable
from typing import Final

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentVerified,
    ConsentWithdrawn,
    ParticipantErased,
    Purpose,
)
from bilet.contracts.catalogue.identity import ParticipantMerged
from bilet.projections import ReadModelTx

# What is folded here. `ConsentRejected` is not: only a pending consent is ever rejected, and a
# pending consent was never in force.
HANDLED: Final = frozenset(
    {
        "ConsentVerified",
        "ConsentPurposesWithdrawn",
        "ConsentWithdrawn",
        "ParticipantErased",
        "ParticipantMerged",
    }
)


def joined(purposes: Iterable[Purpose]) -> str:
    """Purposes as the `purposes` column keeps them (`bilet.facts.queries.purposes_in_force`
    reads them back)."""
    return ",".join(purpose.value for purpose in purposes)


class PupilConsentColumns:
    """The consent, erasure and merge columns of the pupils' `table` (`participant_id`,
    `consent_id`, `purposes`, `valid_until`, `erased`, `merged_into`); an erasure also clears
    `erasure_clears` (what the service keeps of the pupil beyond ids)."""

    def __init__(self, table: str, *, erasure_clears: tuple[str, ...] = ()) -> None:
        if not all(name.isidentifier() for name in (table, *erasure_clears)):
            raise ValueError("the pupils' table and its columns are SQL identifiers")
        # The service names the table and columns (checked above); values are parameters.
        pupils = f"{{{table}}}"
        cleared = "".join(f"{column} = NULL, " for column in erasure_clears)
        self._consent = (
            f"INSERT INTO {pupils} (participant_id, consent_id, purposes, valid_until, erased) "  # noqa: S608
            "VALUES ($1, $2, $3, $4, FALSE) ON CONFLICT (participant_id) DO UPDATE SET "
            "consent_id = excluded.consent_id, purposes = excluded.purposes, "
            "valid_until = excluded.valid_until"
        )
        self._narrow = (
            f"UPDATE {pupils} SET purposes = $3 WHERE participant_id = $1 AND consent_id = $2"  # noqa: S608
        )
        self._erase = (
            f"INSERT INTO {pupils} (participant_id, erased) VALUES ($1, TRUE) "  # noqa: S608
            f"ON CONFLICT (participant_id) DO UPDATE SET erased = TRUE, {cleared}"
            "consent_id = NULL, purposes = NULL, valid_until = NULL"
        )
        self._merge = f"UPDATE {pupils} SET merged_into = $2 WHERE participant_id = $1"  # noqa: S608

    async def apply(self, tx: ReadModelTx, fact: DomainEvent) -> bool:
        """Fold `fact` when it is one of `HANDLED`; False (nothing done) for any other."""
        match fact:
            case ConsentVerified() as verified:
                # The latest verified consent is the one in force (stream order).
                await tx.execute(
                    self._consent,
                    str(verified.participant_id),
                    str(verified.consent_id),
                    joined(verified.purposes),
                    verified.valid_until.isoformat(),
                )
            case ConsentPurposesWithdrawn() as narrowed:
                # Only the consent in force matters here; a pending one is verified with what
                # is left of its purposes.
                await tx.execute(
                    self._narrow,
                    str(narrowed.participant_id),
                    str(narrowed.consent_id),
                    joined(narrowed.remaining),
                )
            case ConsentWithdrawn() as withdrawn:
                # The participant withdraws, not one form: nothing stays in force.
                await tx.execute(self._consent, str(withdrawn.participant_id), None, None, None)
            case ParticipantErased() as erased:
                await tx.execute(self._erase, str(erased.participant_id))
            case ParticipantMerged() as merged:
                # A second profile of one child, closed (docs/adr/0043): nothing new is started
                # under it; moving what it holds to the kept profile is not done here.
                await tx.execute(
                    self._merge,
                    str(merged.participant_id),
                    str(merged.kept_participant_id),
                )
            case _:
                return False
        return True
