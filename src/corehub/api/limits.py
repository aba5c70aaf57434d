"""Refuse oversize bodies before anything reads them (413), chunked or not."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corehub.api.problems import problem


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        await self.app(scope, replaying(messages, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body exceeds {self.max_bytes} bytes"
        await problem(413, "Payload too large", detail, scope.get("path"))(scope, receive, send)


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives the messages already read, then the rest of the request's."""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
