"""The binding codes people type (docs/adr/0053): 12 characters of Crockford's base-32 alphabet
(no I, L, O, U: nothing to misread), 60 random bits, printed as three groups of four
(`7KQ2-M9XD-4HTR`). Typed back with or without dashes and spaces, in either case, with O, I and
L read as 0, 1 and 1.
"""

import re
import secrets
from typing import Final

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH: Final = 12
BITS: Final = LENGTH * 5  # 32 symbols: 5 bits each
# What a typed code may look like before it is normalised (the API's schema says the same).
TYPED_PATTERN: Final = r"^[0-9A-Za-z]{4}[- ]?[0-9A-Za-z]{4}[- ]?[0-9A-Za-z]{4}$"
_SEPARATORS: Final = re.compile(r"[- ]")
_MISREAD: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh code from the operating system's secure random source, normalised."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalised(typed: str) -> str | None:
    """The code as issued, or None when the text cannot be one (never looked up then)."""
    code = _SEPARATORS.sub("", typed).upper().translate(_MISREAD)
    if len(code) != LENGTH or any(symbol not in ALPHABET for symbol in code):
        return None
    return code


def printed(code: str) -> str:
    """The code as handed out: three groups of four."""
    return "-".join(code[start : start + 4] for start in range(0, LENGTH, 4))
