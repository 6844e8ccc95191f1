"""Who asks: the metadata of what they write and the audit record of what they see."""

from uuid import UUID

from bilet.application import RequestContext
from bilet.audit import Access
from bilet.http.auth import Principal, Role
from bilet.http.consistency import PositionToken

PID = UUID("6c1c1c1c-0000-4000-8000-000000000001")
REGISTRAR = Principal(subject="registrar-1", role=Role.REGISTRAR, school_id="school-3")


def test_events_name_the_actor_their_role_and_the_request() -> None:
    metadata = RequestContext(REGISTRAR, "c-1").metadata()
    assert (metadata.actor, metadata.actor_role, metadata.correlation_id) == (
        "registrar-1",
        "registrar",
        "c-1",
    )
    assert RequestContext(REGISTRAR).metadata().correlation_id is None


def test_an_audit_record_names_ids_and_fields_only() -> None:
    ctx = RequestContext(REGISTRAR, "c-2", (PositionToken("identity", 7),))
    record = ctx.audit(Access.READ, PID, "portfolio_view", ["full_name", "snils"])
    assert (record.actor, record.actor_role, record.access) == (
        "registrar-1",
        "registrar",
        Access.READ,
    )
    assert (record.subject, record.purpose, record.fields) == (
        str(PID),
        "portfolio_view",
        ("full_name", "snils"),
    )
    assert record.correlation_id == "c-2"
    # A subject given as text (a read model's id) is the same subject.
    assert ctx.audit(Access.READ, str(PID), "portfolio_view", []).subject == str(PID)
