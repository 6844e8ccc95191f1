"""The career events phase of `bvb simulate season` (docs/adr/0045): in November the demo's six
career events are published in every region as often as it takes to seat its pupils, booked
within capacity (one per pupil, three in ten two, never two at once), attended by about nine in
ten, and every attendee is given the mentor's feedback; all through the service's use cases."""

import random
import uuid
from datetime import date, datetime, timedelta
from uuid import UUID

from bilet.contracts.catalogue.events import CareerEventPublished
from bilet_events.adapters.stores import open_event_store
from bilet_events.application.inputs import AttendanceRecord
from bilet_events.application.service import EventsService
from bilet_events.demo import booking_id, feedback, mentor, organiser, registrar
from bilet_events.demo_offers import OFFERS, published
from bilet_events.domain.errors import DomainError as EventsRefusal
from bilet_events.runtime import open_runtime
from bilet_events.settings import EventsSettings
from bilet_host import simulate_people as people
from bilet_host.simulate_run import Season, SeasonPlan, caught_up
from bilet_host.simulate_store import unit_of_work

SEATS_PER_PUPIL = 1.3  # career events are published until the region has this many seats a pupil


def _offers_for(
    plan: SeasonPlan, region: people.SimRegion, seats: int
) -> list[CareerEventPublished]:
    """The demo's six offers, published in the region as often as it takes to seat its pupils,
    in the weeks from 10 November; ids derived from the seed, the region and the edition."""
    out: list[CareerEventPublished] = []
    edition = 0
    while sum(s.capacity for e in out for s in e.sessions) < seats:
        for offer in OFFERS:
            first_day = date(plan.season, 11, 10) + timedelta(weeks=edition % 3)
            template = published(offer, plan.season, first_day, plan.season)
            ce_id = uuid.uuid5(
                people.namespace(plan.seed), f"career-event:{region.code}:{edition}:{offer.slug}"
            )
            municipality = f"{people.DISTRICT} 1"
            venue = template.venue
            out.append(
                template.model_copy(
                    update={
                        "career_event_id": ce_id,
                        "region_id": region.region_id,
                        "municipality": municipality,
                        "venue": venue and venue.model_copy(update={"municipality": municipality}),
                        "sessions": tuple(
                            s.model_copy(update={"session_id": uuid.uuid5(ce_id, f"session-{n}")})
                            for n, s in enumerate(template.sessions, start=1)
                        ),
                    }
                )
            )
        edition += 1
    return out


async def career_events(season: Season) -> None:
    """November, region by region: publish, book, then each session's attendance and feedback."""
    settings: EventsSettings = season.settings(EventsSettings)
    async with (
        unit_of_work(open_event_store(settings)) as store,
        caught_up(open_runtime(settings, season.clock, store=store)) as runtime,
    ):
        for region_pupils in season.pupils:
            season.clock.now = season.plan.calendar(11, 1)
            region = region_pupils[0].school.region
            seats = int(len(region_pupils) * SEATS_PER_PUPIL) + 1
            events = _offers_for(season.plan, region, seats)
            for event in events:
                await runtime.service.publish(organiser(event.organiser_id), event)
                season.report.career_events += 1
            booked = await _book(season, runtime.service, events, region_pupils)
            await _attend(season, runtime.service, events, booked)


async def _book(
    season: Season,
    service: EventsService,
    events: list[CareerEventPublished],
    pupils: list[people.SimPupil],
) -> dict[UUID, list[UUID]]:
    """Each pupil books one career event (three in ten two) of their grade, in a session with
    seats left; returns the bookings per session."""
    seats: dict[UUID, list[UUID]] = {s.session_id: [] for e in events for s in e.sessions}
    for sim in pupils:
        rng = season.rng("events", sim)
        wanted = 2 if rng.random() < 0.3 else 1
        taken: list[tuple[datetime, datetime]] = []  # a pupil is in one place at a time
        for event in rng.sample(events, len(events)):
            grades = event.eligible_grades
            if wanted == 0 or not grades.lowest <= sim.grade <= grades.highest:
                continue
            open_sessions = [
                s
                for s in event.sessions
                if len(seats[s.session_id]) < s.capacity
                and not any(s.starts_at < end and start < s.ends_at for start, end in taken)
            ]
            if not open_sessions:
                continue
            session = rng.choice(open_sessions)
            booking = booking_id(event.career_event_id, sim.participant_id)
            try:
                answer = await service.book(
                    registrar(sim.school.school_id),
                    event.career_event_id,
                    session.session_id,
                    sim.participant_id,
                    booking,
                )
            except EventsRefusal as refused:
                season.report.refusal(f"events.{refused.code}")
                continue
            if answer.booked:
                seats[session.session_id].append(booking)
                taken.append((session.starts_at, session.ends_at))
                season.report.bookings += 1
                wanted -= 1
    return seats


async def _attend(
    season: Season,
    service: EventsService,
    events: list[CareerEventPublished],
    seats: dict[UUID, list[UUID]],
) -> None:
    """After each session, in the order they end: who came (most), then the mentor's feedback."""
    clock, report = season.clock, season.report
    sessions = sorted(
        ((s.ends_at, e, s.session_id) for e in events for s in e.sessions), key=lambda t: t[0]
    )
    for ends_at, event, session_id in sessions:
        bookings = seats[session_id]
        if not bookings:
            continue
        came = [b for b in bookings if random.Random(f"came-{b}").random() < 0.88]  # noqa: S311
        clock.now = ends_at
        records = [AttendanceRecord(b, b in came) for b in bookings]
        await service.record_attendance(
            organiser(event.organiser_id), event.career_event_id, session_id, records
        )
        report.attended += len(came)
        clock.now = ends_at + timedelta(hours=2)
        for booking in came:
            await service.give_feedback(
                mentor(event.mentors[0]), event.career_event_id, feedback(event, booking)
            )
            report.feedback += 1
