"""Identity's events in the portfolio: reference data every portfolio shows (season rules,
regions, testing windows, schools) and the participant's own row (registration, corrections,
moves, enrolment in a season)."""

from typing import Final

from bilet.contracts.catalogue import identity
from bilet_portfolio.adapters.projection.json_columns import to_json
from bilet_portfolio.adapters.projection.step import Handler, Step, by_event_type, sealed


async def _season_rules_published(step: Step, event: identity.SeasonRulesPublished) -> None:
    # The highest rules version of a season is in force (one stream per season: in order).
    await step.tx.execute(
        "INSERT INTO {seasons} (season, rules_version, max_career_events, stages, stage_count, "
        "starts_on, ends_on) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (season) DO UPDATE "
        "SET rules_version = excluded.rules_version, "
        "max_career_events = excluded.max_career_events, stages = excluded.stages, "
        "stage_count = excluded.stage_count, starts_on = excluded.starts_on, "
        "ends_on = excluded.ends_on WHERE {seasons}.rules_version <= excluded.rules_version",
        event.season,
        event.rules_version,
        event.max_career_events,
        to_json([stage.value for stage in event.diagnostics_stages]),
        len(event.diagnostics_stages),
        event.starts_on.isoformat(),
        event.ends_on.isoformat(),
    )
    await step.reference_changed()


async def _region_admitted(step: Step, event: identity.RegionAdmitted) -> None:
    await step.tx.execute(
        "INSERT INTO {regions} (region_id, region_code, name, time_zone, coordinator) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (region_id) DO UPDATE SET "
        "region_code = excluded.region_code, name = excluded.name, "
        "time_zone = excluded.time_zone, coordinator = excluded.coordinator",
        str(event.region_id),
        event.region_code,
        event.name,
        event.time_zone,
        event.coordinator,
    )
    await step.reference_changed()


async def _window_scheduled(step: Step, event: identity.DiagnosticsWindowScheduled) -> None:
    await step.tx.executemany(
        "INSERT INTO {diagnostics_windows} (region_id, season, stage, opens_on, closes_on) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (region_id, season, stage) DO UPDATE SET "
        "opens_on = excluded.opens_on, closes_on = excluded.closes_on",
        [
            (
                str(event.region_id),
                event.season,
                stage.value,
                event.opens_on.isoformat(),
                event.closes_on.isoformat(),
            )
            for stage in event.stages
        ],
    )
    await step.reference_changed()


async def _school_registered(step: Step, event: identity.SchoolRegistered) -> None:
    await step.tx.execute(
        "INSERT INTO {schools} (school_id, region_id, name, municipality) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (school_id) DO UPDATE SET "
        "region_id = excluded.region_id, name = excluded.name, "
        "municipality = excluded.municipality",
        str(event.school_id),
        str(event.region_id),
        event.name,
        event.municipality,
    )
    await step.reference_changed()


async def _participant_registered(step: Step, event: identity.ParticipantRegistered) -> None:
    erased = await step.ensure_participant_is_erased(event.participant_id)
    await step.tx.execute(
        "UPDATE {participants} SET school_id = $2, region_id = $3, season = $4, grade = $5, "
        "full_name = $6 WHERE participant_id = $1",
        step.text_of(event.participant_id),
        str(event.school_id),
        str(event.region_id),
        event.season,
        event.grade,
        None if erased else sealed(event.full_name),
    )
    await step.portfolio_changed(event.participant_id)


async def _details_corrected(step: Step, event: identity.ParticipantDetailsCorrected) -> None:
    erased = await step.ensure_participant_is_erased(event.participant_id)
    participant_id = step.text_of(event.participant_id)
    if event.grade is not None:
        await step.tx.execute(
            "UPDATE {participants} SET grade = $2 WHERE participant_id = $1",
            participant_id,
            event.grade,
        )
    if event.full_name is not None and not erased:
        await step.tx.execute(
            "UPDATE {participants} SET full_name = $2 WHERE participant_id = $1",
            participant_id,
            sealed(event.full_name),
        )
    await step.portfolio_changed(participant_id)


async def _moved_to_school(step: Step, event: identity.ParticipantMovedToSchool) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "UPDATE {participants} SET school_id = $2, region_id = $3, grade = $4 "
        "WHERE participant_id = $1",
        step.text_of(event.participant_id),
        str(event.to_school_id),
        str(event.to_region_id),
        event.grade,
    )
    await step.portfolio_changed(event.participant_id)


async def _enrolled_in_season(step: Step, event: identity.ParticipantEnrolledInSeason) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "UPDATE {participants} SET season = $2, school_id = $3, region_id = $4, grade = $5 "
        "WHERE participant_id = $1",
        step.text_of(event.participant_id),
        event.season,
        str(event.school_id),
        str(event.region_id),
        event.grade,
    )
    await step.portfolio_changed(event.participant_id)


async def _merged(step: Step, event: identity.ParticipantMerged) -> None:
    """The operator found the participant to be a second profile of the kept one (ADR 0043):
    the merge enters the duplicate's history, so its version and ETag move. Re-pointing the
    duplicate's entries to the kept portfolio is the next step ADR 0043 names."""
    await step.ensure_participant(event.participant_id)
    await step.portfolio_changed(event.participant_id)


async def _left_programme(step: Step, event: identity.ParticipantLeftProgramme) -> None:
    """The participant left the school or the programme (ADR 0050): the departure enters their
    history (version and ETag move). The portfolio stays theirs and their guardians' to read;
    the school's list of the portfolio keeps them until a later round decides otherwise."""
    await step.ensure_participant(event.participant_id)
    await step.portfolio_changed(event.participant_id)


HANDLERS: Final[dict[str, Handler]] = by_event_type(
    (identity.SeasonRulesPublished, _season_rules_published),
    (identity.RegionAdmitted, _region_admitted),
    (identity.DiagnosticsWindowScheduled, _window_scheduled),
    (identity.SchoolRegistered, _school_registered),
    (identity.ParticipantRegistered, _participant_registered),
    (identity.ParticipantDetailsCorrected, _details_corrected),
    (identity.ParticipantMovedToSchool, _moved_to_school),
    (identity.ParticipantEnrolledInSeason, _enrolled_in_season),
    (identity.ParticipantMerged, _merged),
    (identity.ParticipantLeftProgramme, _left_programme),
)
