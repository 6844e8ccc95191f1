"""The programme's frame, kept by the federal operator and the regions: season rules, admitted
regions and their diagnostics windows, schools; and the catalogue queries over them."""

from dataclasses import replace
from datetime import date
from uuid import UUID

from bilet.application import Attempt
from bilet.contracts.vocabulary import Stage
from bilet.http.auth import Role
from bilet_identity.application import access, streams
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.inputs import CommandContext, Committed
from bilet_identity.domain import region as regions
from bilet_identity.domain import school as schools
from bilet_identity.domain import season as seasons
from bilet_identity.domain.errors import SchoolNotFound, SeasonNotFound, UnknownRegion
from bilet_identity.domain.region import Region
from bilet_identity.domain.school import School
from bilet_identity.domain.season import PublishSeasonRules, SeasonRules


class ProgrammeCommands(IdentityCore):
    async def publish_season_rules(
        self, ctx: CommandContext, command: PublishSeasonRules
    ) -> Committed:
        access.require_role(ctx.principal, Role.OPERATOR)
        await self.catalogue.refresh()
        windows = tuple(
            (window.opens_on, window.closes_on)
            for region in self.catalogue.regions.values()
            for window in region.windows
            if window.season == command.season
        )
        command = replace(command, today=self.today(), windows=windows)
        fold = streams.season(command.season)
        outcome = await self.transactor.transact(
            ctx, fold, lambda rules: seasons.decide(command, rules)
        )
        return Committed.of(outcome, fold.stream_id)

    async def admit_region(
        self,
        ctx: CommandContext,
        *,
        region_code: str,
        name: str,
        season: int,
        time_zone: str,
        coordinator: str,
    ) -> Committed:
        access.require_role(ctx.principal, Role.OPERATOR)
        region_id = regions.region_id_for(region_code)

        async def decide(attempt: Attempt) -> None:
            rules = await attempt.state(streams.season(season))
            command = regions.AdmitRegion(region_code, name, season, time_zone, coordinator, rules)
            fold = streams.region(command.region_id)
            attempt.append(fold.stream_id, regions.decide(command, await attempt.state(fold)))

        outcome = await self.transactor.transact_many(ctx, decide)
        return Committed.of(outcome, regions.stream_id(region_id), region_id)

    async def schedule_diagnostics_window(
        self,
        ctx: CommandContext,
        region_id: UUID,
        *,
        season: int,
        stages: tuple[Stage, ...],
        opens_on: date,
        closes_on: date,
    ) -> Committed:
        access.require_operator_or_coordinator_of(ctx.principal, region_id)

        async def decide(attempt: Attempt) -> None:
            rules = await attempt.state(streams.season(season))
            command = regions.ScheduleDiagnosticsWindow(
                region_id, season, stages, opens_on, closes_on, rules
            )
            fold = streams.region(region_id)
            attempt.append(fold.stream_id, regions.decide(command, await attempt.state(fold)))

        outcome = await self.transactor.transact_many(ctx, decide)
        return Committed.of(outcome, regions.stream_id(region_id), region_id)

    async def register_school(
        self, ctx: CommandContext, region_id: UUID, *, name: str, municipality: str
    ) -> Committed:
        access.require_coordinator_of(ctx.principal, region_id)

        async def decide(attempt: Attempt) -> UUID:
            region = await attempt.state(streams.region(region_id))
            command = schools.RegisterSchool(region, name, municipality)
            school_id = command.school_id(region_id)
            fold = streams.school(school_id)
            attempt.append(fold.stream_id, schools.decide(command, await attempt.state(fold)))
            return school_id

        outcome = await self.transactor.transact_many(ctx, decide)
        return Committed.of(outcome, schools.stream_id(outcome.value), outcome.value)

    # ------------------------------------------------------------------ queries
    async def regions(self, season: int | None = None) -> list[Region]:
        await self.catalogue.refresh()
        found = [
            r for r in self.catalogue.regions.values() if season is None or r.admitted_in(season)
        ]
        return sorted(found, key=lambda r: r.region_code)

    async def schools_of(self, region_id: UUID) -> list[School]:
        await self.catalogue.refresh()
        if region_id not in self.catalogue.regions:
            raise UnknownRegion()
        return self.catalogue.schools_of(region_id)

    async def season_rules(self, season: int) -> SeasonRules:
        await self.catalogue.refresh()
        rules = self.catalogue.seasons.get(season)
        if rules is None:
            raise SeasonNotFound(season)
        return rules

    async def region(self, region_id: UUID) -> Region:
        await self.catalogue.refresh()
        region = self.catalogue.regions.get(region_id)
        if region is None:
            raise UnknownRegion()
        return region

    async def school(self, school_id: UUID) -> School:
        await self.catalogue.refresh()
        school = self.catalogue.schools.get(school_id)
        if school is None:
            raise SchoolNotFound()
        return school

    async def all_season_rules(self) -> list[SeasonRules]:
        await self.catalogue.refresh()
        return [self.catalogue.seasons[s] for s in sorted(self.catalogue.seasons)]
