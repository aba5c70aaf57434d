"""`POST /tasks/run` answered ahead of FastAPI's router, for the plain JSON submit.

The single submit is the API's hottest request, and FastAPI's part of it (matching the path
through the included routers, resolving the body, header and service parameters, checking
the returned model) cost more CPU than storing and publishing the task: under 50 clients
the API spent 0.98-1.14 ms of CPU per submit through the router and 0.54-0.60 ms through
this handler (docs/benchmarks.md, 12:52-14:20). So a request with a JSON body and no
`Idempotency-Key` header is validated against the same model and answered by the same
`accept_run` as the route. Everything else goes to the route unchanged: another content
type, a header to check, a body that does not validate or did not arrive whole, so that
every such error is FastAPI's own 400 or 422 and the route stays the one place that
defines the endpoint (and its OpenAPI entry). The service is the one the app was built
with: a test's `dependency_overrides` reaches the route only.

It sits inside `BodySizeLimit` (bodies are already bounded) and inside Starlette's error
middleware, so an unexpected error is the same problem response as from any route.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corehub.api.limits import read_messages, replaying
from corehub.api.problems import problem
from corehub.api.routes.tasks import accept_run
from corehub.errors import CorehubError
from corehub.schemas import RunTaskRequest
from corehub.service import TaskService

PATH = "/tasks/run"
JSON = b"application/json"


class SubmitPath:
    def __init__(self, app: ASGIApp, service: TaskService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _takes(scope):
            await self.app(scope, receive, send)
            return
        messages = await read_messages(receive)  # bounded: inside BodySizeLimit
        body = _body(messages)
        if body is None:  # the route reads it again and answers its own 400 or 422
            await self.app(scope, replaying(messages, receive), send)
            return
        try:
            created, view = await accept_run(self.service, body)
        except CorehubError as exc:
            answer = problem(exc.status, exc.title, exc.detail, scope["path"], **exc.extra)
            await answer(scope, receive, send)
            return
        payload = view.model_dump_json().encode()
        status = 202 if created else 200
        headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(payload))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _takes(scope: Scope) -> bool:
    # corehub serves at the root; under a root path the path differs and the route serves it
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
        return False
    content_type = None
    for name, value in scope["headers"]:
        if name == b"idempotency-key":
            return False
        if name == b"content-type" and content_type is None:  # the first, as Starlette reads
            content_type = value
    return content_type is not None and content_type.partition(b";")[0].strip().lower() == JSON


def _body(messages: list[Message]) -> RunTaskRequest | None:
    """The request's body if it arrived whole and validates. A client that went away
    mid-body sent part of it, which may still parse: the route refuses that (400)."""
    if messages[-1]["type"] != "http.request":
        return None
    try:
        return RunTaskRequest.model_validate_json(b"".join(m.get("body", b"") for m in messages))
    except ValidationError:
        return None
