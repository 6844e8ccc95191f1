"""Answers that no cache may keep and that depend on who asks: every response under a prefix
(refusals too) gets `Cache-Control: no-store` and `Vary: Authorization`."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class PrivateResponses:
    """ASGI middleware: the answers under `prefix` (e.g. `/consent/v1/`) are private."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Cache-Control"] = "no-store"
                varies = [v.strip().lower() for v in headers.get("Vary", "").split(",")]
                if "authorization" not in varies:
                    headers.add_vary_header("Authorization")
            await send(message)

        await self.app(scope, receive, private)
