"""The career events service's use cases: its groups composed over one core
(`base.EventsCore`)."""

from bilet_events.application.attendance import Attendance
from bilet_events.application.bookings import Bookings
from bilet_events.application.catalogue import CatalogueQueries
from bilet_events.application.publishing import Publishing
from bilet_events.application.roster import Rosters


class EventsService(Publishing, Bookings, Attendance, Rosters, CatalogueQueries):
    """Publish, revise and cancel career events, book and give up seats, record attendance and
    mentor feedback; the roster and the catalogue."""
