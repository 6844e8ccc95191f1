"""One example of every published event version, from the Leningrad oblast 2019 scenario.

They appear as message examples in the AsyncAPI document, and `make contracts` seeds the golden
sample of a new version from its example (tests/contract/golden/; an existing sample is never
rewritten). Sealed values are well-formed envelopes of no key: nothing here is a real person.
"""

import base64
import hashlib
from typing import Final

from bilet.contracts.registry import JsonObject

REGION: Final = "5e2a3c10-4b1d-4f7e-9c2a-470000000047"
SCHOOL_3: Final = "0c3b9a52-7f3e-4d8a-8a10-000000000003"
SCHOOL_5: Final = "0c3b9a52-7f3e-4d8a-8a10-000000000005"
PARTICIPANT: Final = "3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0001"
GUARDIAN: Final = "7d1e4b2a-1c3f-4e5a-8b6c-9d0e1f2a3b01"
CONSENT: Final = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c01"
ATTEMPT: Final = "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d01"
ANSWER_SHEET: Final = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e01"
CAREER_EVENT: Final = "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f01"
BOOKING: Final = "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a01"
FEEDBACK: Final = "f6a7b8c9-d0e1-4f2a-8b3c-4d5e6f7a8b01"
MENTOR: Final = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
SESSION: Final = "4d5e6f7a-8b9c-4dae-8f10-2a3b4c5d6e01"
SESSION_2: Final = "4d5e6f7a-8b9c-4dae-8f10-2a3b4c5d6e02"
WAITING_BOOKING: Final = "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a02"
ORGANISER: Final = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
RECOMMENDATIONS: Final = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
DATA_KEY: Final = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
DIGEST: Final = hashlib.sha256(b"an answer sheet").hexdigest()


def sealed(field: str) -> JsonObject:
    """A well-formed envelope that no key opens (deterministic, so examples do not churn)."""
    digest = hashlib.sha256(field.encode()).digest()
    return {
        "$enc": "aesgcm-v1",
        "kid": DATA_KEY,
        "n": base64.b64encode(digest[:12]).decode(),
        "ct": base64.b64encode(digest + digest[:8]).decode(),
    }


_KLIMOV = {"instrument": "klimov_ddo", "version": "1.0.0"}
_RIASEC = {"instrument": "onet_ip_short", "version": "1.0.0"}
_ENVIRONMENT_MAPPING = {"mapping_id": "interests_to_environments", "version": "2019.1.0"}
_RULE = {"mapping_id": "recommendation_rules", "version": "2019.1.0"}

_REGISTRATION_V1: JsonObject = {
    "participant_id": PARTICIPANT,
    "school_id": SCHOOL_3,
    "region_id": REGION,
    "grade": 7,
    "full_name": sealed("full_name"),
    "birth_date": sealed("birth_date"),
    "snils": sealed("snils"),
    "health_limitations": sealed("health_limitations"),
    "accessibility_needs": ["step_free_access"],
}

_RECOMMENDATIONS_V1: JsonObject = {
    "recommendation_set_id": RECOMMENDATIONS,
    "participant_id": PARTICIPANT,
    "season": 2019,
    "rules": _RULE,
    "basis": {
        "attempts": [
            {
                "attempt_id": ATTEMPT,
                "stage": "interests",
                "answer_sheet_id": ANSWER_SHEET,
                "answer_sheet_digest": DIGEST,
                "instruments": [_KLIMOV, _RIASEC],
            }
        ],
        "attended_bookings": [BOOKING],
        "feedback_ids": [FEEDBACK],
    },
    "leading_environments": ["smart", "industrial"],
    "study_plan": [
        {
            "subject": "informatics",
            "intent": "in_depth_course",
            "environment": "smart",
            "because": [{**_RULE, "row": "S-014"}],
            "evidence": [
                {
                    "source": "stage_result",
                    "ref_id": ATTEMPT,
                    "scale": "environments.scores.smart",
                }
            ],
        }
    ],
    "opportunities": [
        {
            "kind": "club",
            "opportunity_id": "6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c",
            "title": "Кружок робототехники, Лужский дом детского творчества",
            "environment": "industrial",
            "because": [{**_RULE, "row": "O-203"}],
            "evidence": [
                {"source": "attendance", "ref_id": BOOKING, "scale": None},
                {"source": "mentor_feedback", "ref_id": FEEDBACK, "scale": None},
            ],
        }
    ],
    "supersedes": None,
}

_STAGE_SCORE = {"source": "stage_result", "ref_id": ATTEMPT, "scale": "environments.scores.smart"}
_RECOMMENDATIONS_V2: JsonObject = {
    **_RECOMMENDATIONS_V1,
    "environment_scores": [
        {
            "environment": "smart",
            "score": 78,
            "contributions": [
                {
                    "source": "interests",
                    "because": {**_RULE, "row": "W-interests"},
                    "weight": 50,
                    "points": 92,
                    "evidence": [_STAGE_SCORE],
                },
                {
                    "source": "attendance",
                    "because": {**_RULE, "row": "W-attendance"},
                    "weight": 15,
                    "points": 50,
                    "evidence": [{"source": "attendance", "ref_id": BOOKING, "scale": None}],
                },
            ],
        }
    ],
    "profile_classes": [
        {
            "environment": "smart",
            "title": "Информационно-технологический класс",
            "reason": "Интерес к умной среде: углублённые информатика и математика.",
            "because": [{**_RULE, "row": "P-011"}],
        }
    ],
    "routes": [
        {
            "environment": "smart",
            "after_grade": 9,
            "route": "spo",
            "programme": "Информационные системы и программирование",
            "reason": "После 9 класса — колледж по IT-специальности.",
            "because": [{**_RULE, "row": "R-021"}],
        },
        {
            "environment": "smart",
            "after_grade": 11,
            "route": "vo",
            "programme": "Прикладная информатика",
            "reason": "После 11 класса — вуз, направление «Прикладная информатика».",
            "because": [{**_RULE, "row": "R-022"}],
        },
    ],
}

EXAMPLES: Final[dict[tuple[str, int], JsonObject]] = {
    ("SeasonRulesPublished", 1): {
        "season": 2019,
        "rules_version": 1,
        "eligible_grades": {"lowest": 6, "highest": 11},
        "max_career_events": 3,
        "diagnostics_stages": ["interests", "soft_skills", "professions_knowledge"],
        "starts_on": "2019-09-01",
        "ends_on": "2019-12-31",
    },
    ("SeasonRulesPublished", 2): {
        "season": 2019,
        "rules_version": 2,
        "eligible_grades": {"lowest": 6, "highest": 11},
        "max_career_events": 3,
        "diagnostics_stages": ["interests", "soft_skills"],
        "starts_on": "2019-09-01",
        "ends_on": "2019-12-31",
        "applies_from": "2019-10-15",
    },
    ("RegionAdmitted", 1): {
        "region_id": REGION,
        "region_code": "47",
        "name": "Ленинградская область",
        "season": 2019,
        "time_zone": "Europe/Moscow",
        "coordinator": "ГБУ ДО «Ленинградский областной центр развития творчества одаренных детей"
        " и юношества «Интеллект»",
    },
    ("DiagnosticsWindowScheduled", 1): {
        "region_id": REGION,
        "season": 2019,
        "stages": ["interests", "soft_skills", "professions_knowledge"],
        "opens_on": "2019-10-11",
        "closes_on": "2019-10-31",
    },
    ("SchoolRegistered", 1): {
        "school_id": SCHOOL_3,
        "region_id": REGION,
        "name": "МОУ «СОШ № 3»",
        "municipality": "Лужский муниципальный район",
    },
    ("ParticipantRegistered", 1): _REGISTRATION_V1,
    ("ParticipantRegistered", 2): {**_REGISTRATION_V1, "season": 2019},
    ("ParticipantRegistered", 3): {
        **_REGISTRATION_V1,
        "season": 2020,
        "accessibility_needs": sealed("accessibility_needs"),
    },
    ("ParticipantDetailsCorrected", 1): {
        "participant_id": PARTICIPANT,
        "reason": "typing_error",
        "grade": None,
        "full_name": sealed("full_name"),
        "birth_date": None,
        "snils": None,
        "health_limitations": None,
        "accessibility_needs": None,
    },
    ("ParticipantDetailsCorrected", 2): {
        "participant_id": PARTICIPANT,
        "reason": "health_status_changed",
        "grade": None,
        "full_name": None,
        "birth_date": None,
        "snils": None,
        "health_limitations": sealed("health_limitations"),
        "accessibility_needs": sealed("accessibility_needs"),
    },
    ("ParticipantDetailsCorrected", 3): {
        "participant_id": PARTICIPANT,
        "reason": "health_status_changed",
        "grade": None,
        "full_name": None,
        "birth_date": None,
        "snils": None,
        "health_limitations": sealed("health_limitations"),
        "accessibility_needs": sealed("accessibility_needs"),
        "key_generation": 2,
    },
    ("ParticipantMovedToSchool", 1): {
        "participant_id": PARTICIPANT,
        "from_school_id": SCHOOL_3,
        "to_school_id": SCHOOL_5,
        "to_region_id": REGION,
        "grade": 7,
    },
    ("ParticipantMerged", 1): {
        "participant_id": PARTICIPANT,
        "kept_participant_id": "3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0002",
    },
    ("ParticipantLeftProgramme", 1): {
        "participant_id": PARTICIPANT,
        "school_id": SCHOOL_3,
        "season": 2019,
        "reason": "left_school",
    },
    ("ParticipantEnrolledInSeason", 1): {
        "participant_id": PARTICIPANT,
        "season": 2020,
        "school_id": SCHOOL_5,
        "region_id": REGION,
        "grade": 8,
    },
    ("ConsentSubmitted", 1): {
        "participant_id": PARTICIPANT,
        "consent_id": CONSENT,
        "school_id": SCHOOL_3,
        "document_id": "4d5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f7a",
        "form_version": "2019-1",
        "purposes": [
            "programme_participation",
            "online_diagnostics",
            "career_events",
            "portfolio",
            "recommendations",
        ],
        "signed_on": "2019-09-16",
        "valid_until": "2020-08-31",
        "guardian_id": GUARDIAN,
        "relationship": "parent",
        "guardian_full_name": sealed("guardian_full_name"),
        "guardian_passport": sealed("guardian_passport"),
        "guardian_authority": None,
    },
    ("ConsentVerified", 1): {
        "participant_id": PARTICIPANT,
        "consent_id": CONSENT,
        "purposes": [
            "programme_participation",
            "online_diagnostics",
            "career_events",
            "portfolio",
            "recommendations",
        ],
        "valid_until": "2020-08-31",
    },
    ("ConsentSubmitted", 2): {
        "participant_id": PARTICIPANT,
        "consent_id": CONSENT,
        "school_id": SCHOOL_3,
        "document_id": "4d5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f7a",
        "form_version": "2020-1",
        "purposes": [
            "programme_participation",
            "online_diagnostics",
            "career_events",
            "portfolio",
            "recommendations",
            "health_data",
        ],
        "signed_on": "2020-09-14",
        "valid_until": "2021-08-31",
        "guardian_id": GUARDIAN,
        "relationship": "parent",
        "guardian_full_name": sealed("guardian_full_name"),
        "guardian_passport": sealed("guardian_passport"),
        "guardian_authority": None,
    },
    ("ConsentVerified", 2): {
        "participant_id": PARTICIPANT,
        "consent_id": CONSENT,
        "purposes": [
            "programme_participation",
            "online_diagnostics",
            "career_events",
            "portfolio",
            "recommendations",
            "health_data",
        ],
        "valid_until": "2021-08-31",
    },
    ("ConsentPurposesWithdrawn", 1): {
        "participant_id": PARTICIPANT,
        "consent_id": CONSENT,
        "withdrawn": ["health_data"],
        "remaining": [
            "programme_participation",
            "online_diagnostics",
            "career_events",
            "portfolio",
            "recommendations",
        ],
        "withdrawn_on": "2020-11-02",
    },
    ("ConsentRejected", 1): {
        "participant_id": PARTICIPANT,
        "consent_id": CONSENT,
        "reasons": ["signature_missing"],
    },
    ("ConsentWithdrawn", 1): {
        "participant_id": PARTICIPANT,
        "consent_id": CONSENT,
        "withdrawn_on": "2020-02-03",
        "erase_by": "2020-03-04",
    },
    ("GuardianLinked", 1): {
        "participant_id": PARTICIPANT,
        "guardian_id": GUARDIAN,
        "consent_id": CONSENT,
        "relationship": "parent",
        "guardian_full_name": sealed("guardian_full_name"),
        "guardian_contact": sealed("guardian_contact"),
    },
    ("ParticipantErased", 1): {
        "participant_id": PARTICIPANT,
        "reason": "consent_withdrawn",
        "erased_at": "2020-02-10T12:00:00Z",
        "destruction_record_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    },
    ("InstrumentVersionPublished", 1): {
        "instrument": "klimov_ddo",
        "version": "1.0.0",
        "stage": "interests",
        "item_count": 20,
        "scales": ["nature", "technology", "person", "sign_system", "artistic_image"],
        "item_bank_digest": hashlib.sha256(b"ddo item bank").hexdigest(),
        "environment_mapping": _ENVIRONMENT_MAPPING,
    },
    ("StageStarted", 1): {
        "attempt_id": ATTEMPT,
        "participant_id": PARTICIPANT,
        "season": 2019,
        "stage": "interests",
        "instruments": [_KLIMOV, _RIASEC],
    },
    ("StageCompleted", 1): {
        "attempt_id": ATTEMPT,
        "participant_id": PARTICIPANT,
        "season": 2019,
        "stage": "interests",
        "answer_sheet": {"answer_sheet_id": ANSWER_SHEET, "item_count": 80, "digest": DIGEST},
        "interests": {
            "klimov": {
                "instrument": _KLIMOV,
                "scores": {
                    "nature": 3,
                    "technology": 7,
                    "person": 2,
                    "sign_system": 6,
                    "artistic_image": 2,
                },
            },
            "riasec": {
                "instrument": _RIASEC,
                "scores": {
                    "realistic": 31,
                    "investigative": 35,
                    "artistic": 12,
                    "social": 18,
                    "enterprising": 20,
                    "conventional": 24,
                },
            },
            "environments": {
                "mapping": _ENVIRONMENT_MAPPING,
                "scores": {
                    "safe": 40,
                    "smart": 88,
                    "social": 25,
                    "healthy": 30,
                    "comfortable": 35,
                    "industrial": 81,
                    "creative": 20,
                    "business": 45,
                    "agrarian": 15,
                },
                "leading": ["smart", "industrial"],
            },
        },
        "soft_skills": None,
        "professions_knowledge": None,
    },
    ("CareerEventPublished", 1): {
        "career_event_id": CAREER_EVENT,
        "region_id": REGION,
        "season": 2019,
        "organiser_id": ORGANISER,
        "title": "Мастер по ремонту и обслуживанию автомобилей",
        "profession": "car_mechanic",
        "environments": ["industrial", "smart"],
        "venue": {
            "kind": "college",
            "name": "ГАПОУ ЛО «Лужский агропромышленный техникум»",
            "address": "Ленинградская область, г. Луга, ул. Преображенская, 1",
            "municipality": "Лужский муниципальный район",
        },
        "starts_at": "2019-11-12T10:00:00+03:00",
        "ends_at": "2019-11-12T13:00:00+03:00",
        "capacity": 12,
        "eligible_grades": {"lowest": 6, "highest": 11},
        "accommodates": ["step_free_access", "accompanying_person"],
    },
    ("CareerEventCancelled", 1): {
        "career_event_id": CAREER_EVENT,
        "reason": "venue_unavailable",
    },
    ("SeatBooked", 1): {
        "career_event_id": CAREER_EVENT,
        "booking_id": BOOKING,
        "participant_id": PARTICIPANT,
        "season": 2019,
        "accessibility_needs": ["step_free_access"],
    },
    ("BookingCancelled", 1): {
        "career_event_id": CAREER_EVENT,
        "booking_id": BOOKING,
        "participant_id": PARTICIPANT,
        "reason": "participant_cancelled",
    },
    ("CareerEventAttended", 1): {
        "career_event_id": CAREER_EVENT,
        "booking_id": BOOKING,
        "participant_id": PARTICIPANT,
    },
    ("MentorFeedbackGiven", 1): {
        "career_event_id": CAREER_EVENT,
        "feedback_id": FEEDBACK,
        "booking_id": BOOKING,
        "participant_id": PARTICIPANT,
        "mentor_id": MENTOR,
        "engagement": 5,
        "task_result": 4,
        "observed_skills": ["teamwork", "attention_to_detail"],
        "suggested_environments": ["industrial"],
        "comment": sealed("comment"),
    },
    ("CareerEventPublished", 2): {
        "career_event_id": CAREER_EVENT,
        "region_id": REGION,
        "season": 2019,
        "organiser_id": ORGANISER,
        "title": "Мастер по ремонту и обслуживанию автомобилей",
        "description": "Диагностика двигателя и замена колеса в учебной мастерской техникума "
        "под руководством мастера производственного обучения.",
        "profession": "car_mechanic",
        "environments": ["industrial", "smart"],
        "level": "introductory",
        "format": "in_person",
        "venue": {
            "kind": "college",
            "name": "ГАПОУ ЛО «Лужский агропромышленный техникум»",
            "address": "Ленинградская область, г. Луга, ул. Преображенская, 1",
            "municipality": "Лужский муниципальный район",
        },
        "municipality": "Лужский муниципальный район",
        "sessions": [
            {
                "session_id": SESSION,
                "starts_at": "2019-11-12T10:00:00+03:00",
                "ends_at": "2019-11-12T13:00:00+03:00",
                "capacity": 12,
            },
            {
                "session_id": SESSION_2,
                "starts_at": "2019-11-13T10:00:00+03:00",
                "ends_at": "2019-11-13T13:00:00+03:00",
                "capacity": 12,
            },
        ],
        "eligible_grades": {"lowest": 6, "highest": 11},
        "accommodates": ["step_free_access", "accompanying_person", "quiet_space"],
        "mentors": [MENTOR],
    },
    ("CareerEventRevised", 1): {
        "career_event_id": CAREER_EVENT,
        "title": "Мастер по ремонту и обслуживанию автомобилей",
        "description": "Диагностика двигателя и замена колеса в учебной мастерской техникума.",
        "profession": "car_mechanic",
        "environments": ["industrial"],
        "level": "advanced",
        "format": "online",
        "venue": None,
        "municipality": "Лужский муниципальный район",
        "sessions": [
            {
                "session_id": SESSION,
                "starts_at": "2019-11-12T11:00:00+03:00",
                "ends_at": "2019-11-12T13:00:00+03:00",
                "capacity": 30,
            }
        ],
        "eligible_grades": {"lowest": 8, "highest": 11},
        "accommodates": ["large_print", "sign_language_interpreter"],
        "mentors": [MENTOR],
    },
    ("WaitlistJoined", 1): {
        "career_event_id": CAREER_EVENT,
        "session_id": SESSION,
        "booking_id": WAITING_BOOKING,
        "participant_id": PARTICIPANT,
        "season": 2019,
        "position": 3,
    },
    ("SeatBooked", 2): {
        "career_event_id": CAREER_EVENT,
        "session_id": SESSION,
        "booking_id": WAITING_BOOKING,
        "participant_id": PARTICIPANT,
        "season": 2019,
        "route": "promoted_from_waitlist",
        "accessibility_needs": sealed("accessibility_needs"),
        "key_generation": 1,
    },
    ("CareerEventAttended", 2): {
        "career_event_id": CAREER_EVENT,
        "session_id": SESSION,
        "booking_id": BOOKING,
        "participant_id": PARTICIPANT,
    },
    ("CareerEventMissed", 1): {
        "career_event_id": CAREER_EVENT,
        "session_id": SESSION_2,
        "booking_id": WAITING_BOOKING,
        "participant_id": PARTICIPANT,
    },
    ("MentorFeedbackGiven", 2): {
        "career_event_id": CAREER_EVENT,
        "feedback_id": FEEDBACK,
        "booking_id": BOOKING,
        "participant_id": PARTICIPANT,
        "mentor_id": MENTOR,
        "task_completion": "completed",
        "skills_shown": [
            {"skill": "teamwork", "level": "proficient"},
            {"skill": "attention_to_detail", "level": "basic"},
        ],
        "interest_shown": "high",
        "suggested_environments": ["industrial"],
        "comment": sealed("comment"),
    },
    ("RecommendationsIssued", 1): _RECOMMENDATIONS_V1,
    ("RecommendationsIssued", 2): _RECOMMENDATIONS_V2,
}
