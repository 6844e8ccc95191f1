"""The document disarmer (`application.documents.DocumentDisarmer`): each upload is decoded and
rebuilt by `adapters.reconstruct` in a `bilet.sandbox` child process, and fails closed.

What the child answers is checked as hostile too (it read hostile input): a refusal's reason is
looked up in `formats.REFUSALS` (its text is never passed on), and a rebuilt document must be of
the type asked for, by its own first bytes. A crash, a limit, a timeout or anything unexpected is
the generic refusal: 415 `unsupported_document`, never a 500.
"""

import json
import logging
from typing import Final

from bilet.sandbox import Sandbox, SandboxBusy, SandboxFailure
from bilet_consent.application.documents import Original, Rebuilt
from bilet_consent.application.errors import DocumentCheckBusy, UnacceptableDocument
from bilet_consent.application.formats import (
    UNPROCESSABLE,
    DisarmLimits,
    media_type_of,
    refusal_detail,
)

_CHILD: Final = "bilet_consent.adapters.reconstruct"
REFUSED: Final = 3  # the child's exit code for a document it refuses (with its reason)
_HEADER_BYTES: Final = 256
log = logging.getLogger(__name__)


class SandboxedDisarmer:
    def __init__(self, sandbox: Sandbox, limits: DisarmLimits | None = None) -> None:
        self.sandbox = sandbox
        self.limits = limits or DisarmLimits()

    async def rebuild(self, media_type: str, content: bytes) -> Rebuilt:
        limits = self.limits
        try:
            result = await self.sandbox.run(
                _CHILD,
                media_type,
                str(limits.dpi),
                str(limits.max_pages),
                str(limits.max_pixels),
                stdin=content,
                expected_codes=(0, REFUSED),
            )
        except SandboxBusy:
            raise DocumentCheckBusy() from None
        except SandboxFailure as failure:
            log.warning("a document was refused: its decoder failed (%s)", failure)
            raise UnacceptableDocument(UNPROCESSABLE) from None
        header, rebuilt = _split(result.output)
        if result.exit_code == REFUSED:
            reason = header.get("refused")
            raise UnacceptableDocument(refusal_detail(str(reason), limits))
        pages = header.get("pages")
        if (
            header.get("media_type") != media_type
            or media_type_of(rebuilt) != media_type
            or not isinstance(pages, int)
            or not 1 <= pages <= limits.max_pages
        ):
            log.warning("a document was refused: its decoder answered something unexpected")
            raise UnacceptableDocument(UNPROCESSABLE)
        return Rebuilt(media_type, rebuilt, pages, Original.of(content))


def _split(output: bytes) -> tuple[dict[str, object], bytes]:
    """The child's header line (a JSON object) and what follows it."""
    newline = output.find(b"\n", 0, _HEADER_BYTES)
    try:
        header = json.loads(output[:newline]) if newline > 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        log.warning("a document was refused: its decoder's answer is unreadable")
        raise UnacceptableDocument(UNPROCESSABLE)
    return header, output[newline + 1 :]
