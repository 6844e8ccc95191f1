"""What a verified token's claims make of the caller."""

from bilet.http.auth import principal_from_claims


def test_a_principal_carries_its_tokens_expiry() -> None:
    claims = {"sub": "acc-1", "role": "pupil", "participant": "p-1", "exp": 1_900_000_000}
    assert principal_from_claims(claims).expires_at == 1_900_000_000.0
    assert principal_from_claims({"sub": "acc-1", "role": "pupil"}).expires_at is None
