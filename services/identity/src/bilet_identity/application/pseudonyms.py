"""Keyed hashes that stand for personal data where identity must compare it without keeping it:
the reservation key of a СНИЛС, the person key of a name and birth date, and the blind index of
a surname's prefixes (a school's pupils searched by surname, docs/adr/0041); a binding code and
an account's subject (docs/adr/0053).

HMAC-SHA256 with a secret of the service (never the bare values: a plain hash of an 11-digit
number is reversed by trying all of them). Each purpose has its own label, so one hash can never
be passed off as another.
"""

import hashlib
import hmac
from datetime import date
from typing import Final

from bilet_identity.domain.people import FullName, fold_name, person_key_material, surname_prefixes
from bilet_identity.domain.snils import Snils

KEY_BYTES: Final = 32


class Pseudonymiser:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < KEY_BYTES:
            raise ValueError(f"the pseudonym key has at least {KEY_BYTES} bytes")
        self._secret = secret
        # Each purpose's HMAC with the key and its label taken in, copied for every value: a
        # registration hashes nine values (the surname's prefixes), and the key's two blocks
        # were hashed anew for each (docs/adr/0099). The same digests: HMAC-SHA256 of label,
        # NUL, value.
        self._labelled: dict[str, hmac.HMAC] = {}

    def _hash(self, purpose: str, text: str) -> str:
        labelled = self._labelled.get(purpose)
        if labelled is None:
            labelled = hmac.new(self._secret, f"{purpose}\x00".encode(), hashlib.sha256)
            self._labelled[purpose] = labelled
        digest = labelled.copy()
        digest.update(text.encode())
        return digest.hexdigest()

    def reservation_key(self, snils: Snils) -> str:
        return self._hash("bilet.identity.snils.v1", snils.digits)

    def person_key(self, full_name: FullName, birth_date: date) -> str:
        return self._hash("bilet.identity.person.v1", person_key_material(full_name, birth_date))

    def surname_prefix_keys(self, last_name: str) -> tuple[str, ...]:
        """The blind index of a surname: a keyed hash of each of its folded prefixes."""
        return tuple(self._surname_prefix(prefix) for prefix in surname_prefixes(last_name))

    def surname_search_key(self, prefix: str) -> str:
        """The keyed hash a search for surnames starting with `prefix` looks up."""
        return self._surname_prefix(fold_name(prefix))

    def binding_code_key(self, code: str) -> str:
        """The keyed hash a binding code is kept and looked up under (docs/adr/0053): the store
        never holds a code that could be redeemed. `code` is the normalised code."""
        return self._hash("bilet.identity.binding-code.v1", code)

    def account_key(self, subject: str) -> str:
        """The keyed hash an account's links are kept under: the identity provider's subject,
        which may be any text, becomes a stream id of fixed shape."""
        return self._hash("bilet.identity.account.v1", subject)

    def _surname_prefix(self, folded: str) -> str:
        return self._hash("bilet.identity.surname-prefix.v1", folded)

    def __repr__(self) -> str:
        return "Pseudonymiser(<hidden>)"
