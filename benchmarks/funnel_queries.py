"""The funnel question of docs/analytics.md (worked query 3: registration → consent → three stages
→ a career event, per region and week) asked twice: as documented, in DuckDB over an export, and
in SQL over the services' raw PostgreSQL event tables (their JSON `data` read with `jsonb`
operators), so that the two can be timed against each other and their answers compared.

The raw query answers the export's question, not a wider one: it counts only the population an
export holds (the latest verified consent covers `pseudonymised_analytics`, not withdrawn wholly
or for that purpose, not expired, the participant not erased: `bilet.analytics.population`). It
takes a pupil's region from their registration, where the export's `participants` dimension
follows moves between schools too; the simulated season has none, and the bench checks that both
answers agree row by row. Every step is a `MATERIALIZED` CTE that reads its event types from
the table (the `events_by_type` index) and extracts its fields once: inlined, PostgreSQL (which
cannot estimate rows filtered by a JSON field) chose nested loops that parsed the registrations
again for every pupil (14 times slower on 200 pupils), and a first version that filtered one
CTE of all consent events by type compared JSON fields pupil by pupil (9 s on 2,000 pupils).
"""

import re
from datetime import datetime
from pathlib import Path
from typing import Final

DOCS: Final = Path(__file__).resolve().parent.parent / "docs" / "analytics.md"
_WORKED: Final = re.compile(r"^### (\d+)\. (.+?)\n\n```sql\n(.*?)```", re.S | re.M)
FUNNEL_NUMBER: Final = "3"

# One row of the answer: region, week (UTC), registered, consented, all stages, attended.
FunnelRow = tuple[str | None, datetime, int, int, int, int]


def documented_funnel() -> str:
    """Worked query 3 exactly as docs/analytics.md prints it."""
    for number, _title, sql in _WORKED.findall(DOCS.read_text("utf-8")):
        if number == FUNNEL_NUMBER:
            return str(sql)
    raise LookupError(f"docs/analytics.md has no worked query {FUNNEL_NUMBER}")


def raw_funnel(identity: str, consent: str, diagnostics: str, events: str) -> str:
    """The same question over the stores' schemas (each a PostgreSQL event store)."""
    return f"""
WITH latest_verified AS MATERIALIZED (
    SELECT DISTINCT ON (d->>'participant_id')
           d->>'participant_id' AS participant_id, d->>'consent_id' AS consent_id,
           d->'purposes' ? 'pseudonymised_analytics' AS covers,
           (d->>'valid_until')::date AS valid_until, position
    FROM (SELECT position, convert_from(data, 'UTF8')::jsonb AS d
          FROM {consent}.events WHERE type = 'ConsentVerified') verified
    ORDER BY d->>'participant_id', position DESC
),
withdrawn AS MATERIALIZED (
    SELECT d->>'participant_id' AS participant_id, d->>'consent_id' AS consent_id, position
    FROM (SELECT position, type, convert_from(data, 'UTF8')::jsonb AS d
          FROM {consent}.events
          WHERE type IN ('ConsentWithdrawn', 'ConsentPurposesWithdrawn')) withdrawals
    WHERE type = 'ConsentWithdrawn' OR d->'withdrawn' ? 'pseudonymised_analytics'
),
erased AS MATERIALIZED (
    SELECT DISTINCT convert_from(data, 'UTF8')::jsonb->>'participant_id' AS participant_id
    FROM {consent}.events WHERE type = 'ParticipantErased'
),
population AS MATERIALIZED (
    SELECT v.participant_id FROM latest_verified v
    WHERE v.covers AND v.valid_until >= current_date
      AND NOT EXISTS (
          SELECT 1 FROM withdrawn w
          WHERE w.participant_id = v.participant_id AND w.consent_id = v.consent_id
            AND w.position > v.position)
      AND NOT EXISTS (SELECT 1 FROM erased e WHERE e.participant_id = v.participant_id)
),
regions AS MATERIALIZED (
    SELECT DISTINCT ON (d->>'region_id') d->>'region_id' AS region_id, d->>'name' AS region
    FROM (SELECT position, convert_from(data, 'UTF8')::jsonb AS d
          FROM {identity}.events WHERE type = 'RegionAdmitted') admitted
    ORDER BY d->>'region_id', position
),
registered AS MATERIALIZED (
    SELECT x.d->>'participant_id' AS participant_id, g.region,
           date_trunc('week', x.recorded_at) AS week
    FROM (SELECT recorded_at, convert_from(data, 'UTF8')::jsonb AS d
          FROM {identity}.events WHERE type = 'ParticipantRegistered') x
    JOIN population p ON p.participant_id = x.d->>'participant_id'
    LEFT JOIN regions g ON g.region_id = x.d->>'region_id'
),
consented AS MATERIALIZED (SELECT participant_id FROM latest_verified),
all_stages AS MATERIALIZED (
    SELECT d->>'participant_id' AS participant_id
    FROM (SELECT convert_from(data, 'UTF8')::jsonb AS d
          FROM {diagnostics}.events WHERE type = 'StageCompleted') completed
    GROUP BY d->>'participant_id' HAVING count(DISTINCT d->>'stage') = 3
),
attended AS MATERIALIZED (
    SELECT DISTINCT convert_from(data, 'UTF8')::jsonb->>'participant_id' AS participant_id
    FROM {events}.events WHERE type = 'CareerEventAttended'
)
SELECT r.region, r.week,
       count(*) AS registered,
       count(c.participant_id) AS consented,
       count(s.participant_id) AS completed_all_stages,
       count(a.participant_id) AS attended_a_career_event
FROM registered r
LEFT JOIN consented c ON c.participant_id = r.participant_id
LEFT JOIN all_stages s ON s.participant_id = r.participant_id
LEFT JOIN attended a ON a.participant_id = r.participant_id
GROUP BY r.region, r.week
ORDER BY r.region, r.week
"""  # noqa: S608 (the schemas are the bench's own)
