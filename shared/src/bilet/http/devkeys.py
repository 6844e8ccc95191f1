"""Development signing keys: what lets `make run` print a ready token for every role.

An Ed25519 key is made once under `var/` (private key 0600, public key as a JWKS beside it). Its key
id starts with `bvb-dev-` and its tokens name the issuer `bilet-development`: production refuses
both, so a development token can never open a production service.
"""

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from bilet.http.auth import DEVELOPMENT_ISSUER, DEVELOPMENT_KEY_PREFIX, Role

PRIVATE_KEY_FILE: Final = "dev-signing-key.pem"
JWKS_FILE: Final = "dev-jwks.json"
DEFAULT_AUDIENCE: Final = "bilet"


@dataclass(frozen=True)
class DevelopmentSigner:
    key: Ed25519PrivateKey
    key_id: str
    jwks_path: Path
    audience: str = DEFAULT_AUDIENCE

    def mint(
        self,
        role: Role,
        *,
        subject: str | None = None,
        school: str | None = None,
        region: str | None = None,
        participant: str | None = None,
        children: list[str] | None = None,
        venue: str | None = None,
        ttl_seconds: int = 12 * 3600,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": DEVELOPMENT_ISSUER,
            "aud": self.audience,
            "sub": subject or f"dev-{role.value}-{uuid.uuid4().hex[:8]}",
            "iat": now,
            "exp": now + ttl_seconds,
            "role": role.value,
        }
        for name, value in (
            ("school", school),
            ("region", region),
            ("participant", participant),
            ("venue", venue),
        ):
            if value is not None:
                claims[name] = value
        if children:
            claims["children"] = children
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.key_id})


def _key_id(key: Ed25519PrivateKey) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    digest = hashlib.sha256(public).digest()[:9]
    return DEVELOPMENT_KEY_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def ensure_development_keys(var_dir: Path) -> DevelopmentSigner:
    """Load the development key from `var_dir`, making it (and its JWKS) on first use."""
    var_dir.mkdir(parents=True, exist_ok=True)
    private_path = var_dir / PRIVATE_KEY_FILE
    jwks_path = var_dir / JWKS_FILE
    if private_path.exists():
        loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{private_path} is not an Ed25519 key")
        key = loaded
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written under a temporary name and renamed: concurrent starts end with one whole key.
        temporary = private_path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        try:
            os.link(temporary, private_path)
        except FileExistsError:
            temporary.unlink()
            return ensure_development_keys(var_dir)
        temporary.unlink()
    key_id = _key_id(key)
    public_jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    public_jwk.update({"kid": key_id, "use": "sig", "alg": "EdDSA"})
    document = json.dumps({"keys": [public_jwk]}, indent=2)
    if not jwks_path.exists() or jwks_path.read_text(encoding="utf-8") != document:
        temporary_jwks = jwks_path.with_suffix(f".{os.getpid()}.tmp")
        temporary_jwks.write_text(document, encoding="utf-8")
        temporary_jwks.replace(jwks_path)
    return DevelopmentSigner(key=key, key_id=key_id, jwks_path=jwks_path)
