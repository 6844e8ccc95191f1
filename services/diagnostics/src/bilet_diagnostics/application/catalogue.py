"""The instruments as the service publishes and describes them: every version of the catalogue
is announced once as `InstrumentVersionPublished` (at start, on the stream
`instrument-<instrument>`: a version already there is not announced again, so every replica may
run it), and `GET /instruments` lists the versions in use per stage."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bilet.application import RequestContext
from bilet.contracts.catalogue.diagnostics import InstrumentVersionPublished
from bilet.contracts.vocabulary import InstrumentRef, MappingRef, Stage
from bilet.http.auth import Principal, Role
from bilet_diagnostics.application.base import DiagnosticsCore
from bilet_diagnostics.application.ports import Version
from bilet_diagnostics.application.streams import PublishedVersions, instrument_of

PUBLISHER: Final = RequestContext(
    Principal(subject="diagnostics-service", role=Role.OPERATOR), "instrument-catalogue"
)
# A grade of each band: the form of a stage may differ by band (6–7, 8–9, 10–11).
BAND_GRADES: Final = (6, 8, 10)


@dataclass(frozen=True)
class StageInstruments:
    stage: Stage
    # band → the instrument versions a pupil of that band starts the stage with today
    in_use: dict[str, tuple[InstrumentRef, ...]]
    items_per_band: dict[str, int]
    time_limit_minutes: dict[str, int]


@dataclass(frozen=True)
class CatalogueView:
    stages: tuple[StageInstruments, ...]
    versions: tuple[Version, ...]
    mappings: tuple[tuple[MappingRef, object], ...]


def _announce(
    event: InstrumentVersionPublished,
) -> Callable[[PublishedVersions], list[InstrumentVersionPublished]]:
    """Announce a version once: nothing when its stream holds it already."""

    def decide(state: PublishedVersions) -> list[InstrumentVersionPublished]:
        return [] if event.version in state.versions else [event]

    return decide


class InstrumentCatalogue(DiagnosticsCore):
    async def publish_instrument_versions(self) -> int:
        """Announce each version of the catalogue not announced yet; returns how many were."""
        announced = 0
        for version in self.instruments.versions():
            outcome = await self.transactor.transact(
                PUBLISHER, instrument_of(version.ref.instrument), _announce(version.published())
            )
            announced += outcome.appended
        return announced

    def catalogue(self) -> CatalogueView:
        """What clients and analysts need to read results: the versions in use per stage and
        band, every version's scales and item counts, and the mapping tables."""
        stages = []
        for stage in Stage:
            forms = {}
            for grade in BAND_GRADES:
                try:
                    forms[str(grade)] = self.instruments.current_form(stage, grade)
                except KeyError:
                    continue
            stages.append(
                StageInstruments(
                    stage,
                    {f.band: f.instruments for f in forms.values()},
                    {f.band: len(f.items) for f in forms.values()},
                    {f.band: int(f.time_limit.total_seconds() // 60) for f in forms.values()},
                )
            )
        versions = self.instruments.versions()
        refs = sorted(
            {v.mapping for v in versions if v.mapping is not None},
            key=lambda ref: (ref.mapping_id, ref.version),
        )
        mappings = tuple((ref, self.instruments.mapping_table(ref)) for ref in refs)
        return CatalogueView(tuple(stages), versions, mappings)
