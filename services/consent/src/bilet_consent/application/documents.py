"""Signed consent documents: what may be stored (a PDF, JPEG or PNG by its content, rebuilt
from its pixels by the `DocumentDisarmer` port: `adapters.disarm`, see `formats` and ADR 0015),
how it is sealed (AES-256-GCM with the participant's data key, bound to the participant and the
document), and the port of the stores that keep it (`adapters.documents`: disk, PostgreSQL).

Only the rebuilt copy is stored and served; of the original upload the store keeps its SHA-256
and size (evidence of which file the copy was made from). The SHA-256 of the stored plaintext and
the original's are kept with the ciphertext in the document store only, and go when the document
goes; a document read back is checked against its checksum.
"""

import hashlib
import os
from dataclasses import dataclass, field
from typing import Final, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bilet.crypto import KeyStore
from bilet.crypto.keystore import associated_data
from bilet_consent.application.errors import (
    DocumentGone,
    DocumentTooLarge,
    EmptyDocument,
    UnsupportedDocument,
)
from bilet_consent.application.formats import JPEG, PDF, PNG, media_type_of

NONCE_BYTES: Final = 12
_AD_LABEL: Final = "bilet-consent-document-v1"
__all__ = ["JPEG", "PDF", "PNG", "check_document", "media_type_of"]


def check_document(content: bytes, limit: int) -> str:
    """The document's media type by its first bytes, or the refusal that fits: empty (422), too
    large (413), not a PDF, JPEG or PNG at all (415 `unsupported_document_type`). Whether it
    decodes is the disarmer's to say (415 `unsupported_document`)."""
    if not content:
        raise EmptyDocument()
    if len(content) > limit:
        raise DocumentTooLarge(limit)
    media_type = media_type_of(content)
    if media_type is None:
        raise UnsupportedDocument()
    return media_type


@dataclass(frozen=True)
class Original:
    """What is kept of an upload once it is rebuilt: evidence of which file it was, not the file."""

    sha256: str  # hex
    size: int

    @classmethod
    def of(cls, content: bytes) -> "Original":
        return cls(hashlib.sha256(content).hexdigest(), len(content))


@dataclass(frozen=True)
class Rebuilt:
    """A document rebuilt from the pixels of an upload: of the same media type, holding nothing
    of the original but what it shows."""

    media_type: str
    content: bytes = field(repr=False)
    pages: int
    original: Original


class DocumentDisarmer(Protocol):
    async def rebuild(self, media_type: str, content: bytes) -> Rebuilt:
        """Decode the upload (of the type its first bytes claim) to pixels, outside the event
        loop and the service's process, and rebuild a clean copy; `UnacceptableDocument` (415
        `unsupported_document`) for anything that does not decode within the limits."""
        ...


@dataclass(frozen=True)
class StoredDocument:
    """A document as a store keeps it: ciphertext and what is needed to open and check it."""

    participant_id: UUID
    document_id: UUID
    media_type: str
    key_id: str
    nonce: bytes
    ciphertext: bytes = field(repr=False)
    sha256: str  # of the plaintext, hex
    original: Original | None = None  # of the upload it was rebuilt from (None: stored before)

    @property
    def size(self) -> int:
        return len(self.ciphertext) - 16


class DocumentStore(Protocol):
    async def put(self, document: StoredDocument) -> None:
        """Keep a document (replacing one with the same id: a retried submission)."""
        ...

    async def get(self, participant_id: UUID, document_id: UUID) -> StoredDocument | None: ...

    async def delete(self, participant_id: UUID, document_id: UUID) -> bool: ...

    async def delete_participant(self, participant_id: UUID) -> int:
        """Delete every document of a participant; how many were deleted (0 the second time)."""
        ...

    async def count(self, participant_id: UUID) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def _ad(participant_id: UUID, document_id: UUID, key_id: str) -> bytes:
    return associated_data(_AD_LABEL, str(participant_id), str(document_id), key_id)


class DocumentSealer:
    """Encrypts and decrypts documents with the participant's data key, from the suite's one key
    store (subject = the participant id: the key identity seals with, destroyed on erasure)."""

    def __init__(self, keystore: KeyStore) -> None:
        self.keystore = keystore

    async def seal(
        self,
        participant_id: UUID,
        document_id: UUID,
        media_type: str,
        content: bytes,
        original: Original | None = None,
    ) -> StoredDocument:
        key = await self.keystore.get_or_create(str(participant_id))
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key.key).encrypt(
            nonce, content, _ad(participant_id, document_id, key.key_id)
        )
        return StoredDocument(
            participant_id,
            document_id,
            media_type,
            key.key_id,
            nonce,
            ciphertext,
            hashlib.sha256(content).hexdigest(),
            original,
        )

    async def open(self, document: StoredDocument) -> bytes:
        key = await self.keystore.get(str(document.participant_id))
        if key is None or key.key_id != document.key_id:
            raise DocumentGone()
        try:
            content = AESGCM(key.key).decrypt(
                document.nonce,
                document.ciphertext,
                _ad(document.participant_id, document.document_id, key.key_id),
            )
        except InvalidTag:
            raise DocumentIntegrityError(document.document_id) from None
        if hashlib.sha256(content).hexdigest() != document.sha256:
            raise DocumentIntegrityError(document.document_id)
        return content


class DocumentIntegrityError(Exception):
    """A stored document does not authenticate or does not match its checksum: the store was
    tampered with or damaged. An operator must look; the API answers 500."""

    def __init__(self, document_id: UUID) -> None:
        super().__init__(f"document {document_id} fails its integrity check")
