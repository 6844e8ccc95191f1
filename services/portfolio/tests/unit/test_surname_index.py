"""The keyed-hash index of surnames (ADR 0044): folding, prefixes, envelopes, purging."""

from bilet_portfolio.application.surname_index import SurnameIndex, fold_surname
from bilet_portfolio.domain.consent import ConsentFacts, ConsentState
from bilet_portfolio.domain.progress import Progress
from bilet_portfolio.domain.views import ParticipantRecord


def pupil(
    pid: str, envelope: str | None, school: str = "s1", *, erased: bool = False
) -> ParticipantRecord:
    return ParticipantRecord(
        participant_id=pid,
        school_id=school,
        region_id="r1",
        season=2019,
        grade=7,
        sealed_name=envelope,
        consent=ConsentFacts(ConsentState.VERIFIED),
        erased=erased,
        erased_at=None,
        progress=Progress(0, 3, 0, 0, 3, False),
        version=1,
        updated_at="2019-11-05T00:00:00+00:00",
    )


def test_folding_agrees_on_case_yo_and_spacing() -> None:
    assert fold_surname("  Фёдоров   Ли ") == fold_surname("федоров ли")
    assert fold_surname("Д’Артаньян") == fold_surname("д'артаньян")


def test_every_prefix_matches_and_nothing_else() -> None:
    index = SurnameIndex(bytes(32))
    a, b = pupil("a", "env-a"), pupil("b", "env-b")
    index.learn(a, "Фёдорова", erased=False)
    index.learn(b, "Орлов", erased=False)
    assert index.matching("ФЕД", [a, b]) == {"a"}
    assert index.matching("федорова", [a, b]) == {"a"}
    assert index.matching("федоровая", [a, b]) == frozenset()
    assert index.matching("о", [a, b]) == {"b"}
    assert index.matching("о", [a]) == frozenset()  # only among the rows asked about


def test_an_index_of_another_envelope_or_key_never_matches() -> None:
    index = SurnameIndex(bytes(32))
    index.learn(pupil("a", "env-a"), "Орлов", erased=False)
    renamed = pupil("a", "env-a2")
    assert index.unindexed([renamed]) == [renamed]
    assert index.matching("орл", [renamed]) == frozenset()
    other_process = SurnameIndex()  # a key of its own: the same hashes mean nothing there
    assert other_process.matching("орл", [pupil("a", "env-a")]) == frozenset()


def test_erased_closed_and_moved_pupils_are_purged() -> None:
    index = SurnameIndex(bytes(32))
    kept, gone, elsewhere = pupil("a", "e1"), pupil("b", "e2"), pupil("c", "e3", school="s2")
    for participant in (kept, gone, elsewhere):
        index.learn(participant, "Орлов", erased=False)
    index.retain("s1", [kept])
    assert len(index) == 2  # b dropped; s2's pupil untouched
    index.learn(kept, None, erased=True)
    assert len(index) == 1
    assert index.unindexed([pupil("c", "e3", school="s2", erased=True)]) == []
    assert len(index) == 0
