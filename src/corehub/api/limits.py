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
        try:
            messages = await read_messages(receive, self.max_bytes)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, replaying(messages, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body exceeds {self.max_bytes} bytes"
        await problem(413, "Payload too large", detail, scope.get("path"))(scope, receive, send)


class BodyTooLarge(Exception):
    pass


async def read_messages(receive: Receive, max_bytes: int | None = None) -> list[Message]:
    """A request's messages up to its last body part (or the client's disconnect); raises
    `BodyTooLarge` as soon as the body passes `max_bytes`, before reading the rest."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLarge
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives the messages already read, then the rest of the request's."""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
