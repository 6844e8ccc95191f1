"""The career events service's command side: its groups of use cases composed over one core
(`base.EventsCore`)."""

from bilet_events.application.attendance import Attendance
from bilet_events.application.bookings import Bookings
from bilet_events.application.publishing import Publishing


class EventsService(Publishing, Bookings, Attendance):
    """Publish and cancel career events, book and give up seats, record attendance."""
