"""The HTTP API in-process: answers, problem responses, and nothing stored on bad input."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from corehub.api import create_app
from corehub.api.deps import get_service
from corehub.api.submit_path import SubmitPath
from corehub.config import Settings
from corehub.config.settings import ApiSettings
from corehub.runtime import Runtime, build_runtime
from corehub.store import Outcome, TaskStatus
from tests.unit.helpers import count_tasks

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}
LIMIT = 2048  # api.max_body_bytes of every runtime here


def _runtime(root: Path) -> Runtime:
    """A runtime on SQLite under `root`, unaffected by the caller's env, cwd or HOME."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("COREHUB_")]:
            mp.delenv(name)
        mp.setenv("HOME", str(root))
        mp.chdir(root)
        settings = Settings(data_dir=root / "data", api=ApiSettings(max_body_bytes=LIMIT))
    return build_runtime(settings, publish=False)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """Shared by the tests that only add their own rows (this overrides conftest's `rt`)."""
    runtime = _runtime(tmp_path_factory.mktemp("api"))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt.services), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def own_rt(tmp_path: Path) -> Iterator[Runtime]:
    """An empty record of the test's own, for listings and settings changes."""
    runtime = _runtime(tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture
def own_client(own_rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(own_rt.services), raise_server_exceptions=False) as test_client:
        yield test_client


def _run(client: TestClient, task_name: str = "echo_bot.echo", **kwargs: Any) -> dict[str, Any]:
    response = client.post("/tasks/run", json={"task_name": task_name, "kwargs": kwargs})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def _finish(rt: Runtime, task_id: str, status: TaskStatus = TaskStatus.SUCCESS) -> None:
    lease = rt.store.claim(task_id, "test-worker")
    assert lease is not None
    assert rt.store.finish(lease, Outcome(status, result={"done": True}))


# -- system -------------------------------------------------------------------------------------


def test_ping_answers_ok(client: TestClient) -> None:
    response = client.get("/ping")
    assert (response.status_code, response.json()["status"]) == (200, "ok")


def test_health_reports_the_database_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert (response.status_code, response.json()["checks"]["database"]) == (200, "ok")


def test_health_is_503_when_the_database_fails(
    own_client: TestClient, own_rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise ConnectionError("database is gone")

    monkeypatch.setattr(own_rt.db, "ping", broken)
    response = own_client.get("/health")
    assert (response.status_code, response.json()["status"]) == (503, "unavailable")


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_documentation_is_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_modules_lists_the_builtins(client: TestClient) -> None:
    assert {m["name"] for m in client.get("/modules").json()} >= {"core", "echo_bot"}


def test_registered_tasks_include_echo(client: TestClient) -> None:
    assert "echo_bot.echo" in {t["name"] for t in client.get("/tasks/registered").json()}


# -- submitting and reading ---------------------------------------------------------------------


def test_run_answers_202_with_a_queued_task(client: TestClient) -> None:
    response = client.post("/tasks/run", json={"task_name": "echo_bot.echo", "kwargs": {}})
    assert (response.status_code, response.json()["status"]) == (202, "queued")


def test_run_stores_the_row(client: TestClient, rt: Runtime) -> None:
    task_id = _run(client, text="hi")["task_id"]
    record = rt.store.get(task_id)
    assert record is not None and (record.name, record.kwargs) == ("echo_bot.echo", {"text": "hi"})


def test_run_applies_queue_and_priority(client: TestClient, rt: Runtime) -> None:
    body = {"task_name": "core.noop", "queue": "fast", "priority": "high"}
    task_id = client.post("/tasks/run", json=body).json()["task_id"]
    record = rt.store.get(task_id)
    assert record is not None and (record.queue, record.priority) == ("fast", "high")


def test_run_without_priority_gets_the_default(client: TestClient, rt: Runtime) -> None:
    task_id = _run(client, text="hi")["task_id"]
    record = rt.store.get(task_id)
    assert record is not None and record.priority == "default"


def test_get_task_returns_the_submitted_task(client: TestClient) -> None:
    submitted = _run(client, text="hi")
    assert client.get(f"/tasks/{submitted['task_id']}").json() == submitted


def test_status_alias_returns_the_same_as_get_task(client: TestClient) -> None:
    task_id = _run(client, text="hi")["task_id"]
    assert client.get(f"/status/{task_id}").json() == client.get(f"/tasks/{task_id}").json()


def test_get_task_shows_a_finished_result(client: TestClient, rt: Runtime) -> None:
    task_id = _run(client)["task_id"]
    _finish(rt, task_id)
    body = client.get(f"/tasks/{task_id}").json()
    assert (body["status"], body["result"]) == ("success", {"done": True})


def test_events_of_a_new_task_are_one_queued(client: TestClient) -> None:
    task_id = _run(client)["task_id"]
    events = client.get(f"/tasks/{task_id}/events").json()
    assert [(e["type"], e["to_status"]) for e in events] == [("queued", "queued")]


def test_events_follow_the_lifecycle(client: TestClient, rt: Runtime) -> None:
    task_id = _run(client)["task_id"]
    _finish(rt, task_id)
    events = client.get(f"/tasks/{task_id}/events").json()
    assert [e["type"] for e in events] == ["queued", "started", "success"]


def test_events_after_resumes_from_an_event_id(client: TestClient, rt: Runtime) -> None:
    task_id = _run(client)["task_id"]
    _finish(rt, task_id)
    first = client.get(f"/tasks/{task_id}/events").json()[0]["id"]
    events = client.get(f"/tasks/{task_id}/events", params={"after": first}).json()
    assert [e["type"] for e in events] == ["started", "success"]


def test_bulk_stores_every_task(client: TestClient, rt: Runtime) -> None:
    body = {"tasks": [{"task_name": "echo_bot.echo", "kwargs": {"text": str(i)}} for i in range(3)]}
    response = client.post("/tasks/bulk", json=body)
    ids = response.json()["task_ids"]
    assert all(rt.store.get(i) is not None for i in ids) and len(ids) == 3


# -- bad input: its status, as a problem, and nothing stored -------------------------------------


def _chunks(size: int) -> Iterator[bytes]:
    body = b'{"task_name": "echo_bot.echo", "kwargs": {"text": "' + b"x" * size + b'"}}'
    for start in range(0, len(body), 512):
        yield body[start : start + 512]


BAD_RUNS: list[Any] = [
    pytest.param({"json": {"task_name": "echo_bot.ecko"}}, 404, id="unknown-task"),
    pytest.param({"json": {"task_name": "echo_bot.echo", "kwargs": {"txt": 1}}}, 422, id="kwargs"),
    pytest.param({"json": {"task_name": "core.noop", "args": [1]}}, 422, id="too-many-args"),
    pytest.param({"content": b'{"task_name": ', "headers": JSON}, 422, id="malformed-json"),
    pytest.param(
        {"content": b'{"task_name": "echo_bot.echo", "kwargs": {"text": "' + b"x" * 4096 + b'"}}'},
        413,
        id="too-large",
    ),
    pytest.param({"content": _chunks(4096), "headers": JSON}, 413, id="too-large-chunked"),
    pytest.param({"json": {"task_name": "echo_bot.echo", "kwargs": ["x"]}}, 422, id="kwargs-list"),
    pytest.param({"json": {"kwargs": {"text": "x"}}}, 422, id="no-task-name"),
    pytest.param({"json": {"task_name": "echo_bot.echo", "extra": 1}}, 422, id="extra-field"),
    pytest.param({"json": {"task_name": ""}}, 422, id="empty-task-name"),
    pytest.param(
        {"json": {"task_name": "echo_bot.echo", "priority": "urgent"}}, 422, id="priority"
    ),
    pytest.param(
        {"json": {"task_name": "echo_bot.echo", "kwargs": {"text": 2**70}}}, 422, id="huge-int"
    ),
]


@pytest.mark.parametrize(("request_kw", "status"), BAD_RUNS)
def test_bad_run_is_a_problem_and_stores_nothing(
    client: TestClient, rt: Runtime, request_kw: dict[str, Any], status: int
) -> None:
    before = count_tasks(rt)
    response = client.post("/tasks/run", **request_kw)
    outcome = (response.status_code, response.headers["content-type"], count_tasks(rt) - before)
    assert outcome == (status, PROBLEM, 0), response.text


def test_unknown_task_detail_names_it_and_a_close_match(client: TestClient) -> None:
    detail = client.post("/tasks/run", json={"task_name": "echo_bot.ecko"}).json()["detail"]
    assert "echo_bot.ecko" in detail and "echo_bot.echo" in detail, detail


def test_malformed_json_detail_says_so(client: TestClient) -> None:
    response = client.post("/tasks/run", content=b'{"task_name": ', headers=JSON)
    assert "malformed JSON" in response.json()["detail"]


def test_oversize_chunked_body_is_refused_without_content_length(client: TestClient) -> None:
    response = client.post("/tasks/run", content=_chunks(4096), headers=JSON)
    assert (response.request.headers.get("content-length"), response.status_code) == (None, 413)


def test_body_exactly_at_the_limit_is_accepted(client: TestClient) -> None:
    head = b'{"task_name": "echo_bot.echo", "kwargs": {"text": "'
    body = head + b"x" * (LIMIT - len(head) - 3) + b'"}}'
    assert (len(body), client.post("/tasks/run", content=body, headers=JSON).status_code) == (
        LIMIT,
        202,
    )


def test_bulk_with_one_invalid_item_stores_none(client: TestClient, rt: Runtime) -> None:
    good = {"task_name": "echo_bot.echo", "kwargs": {"text": "ok"}}
    bad = {"task_name": "echo_bot.echo", "kwargs": {"nope": 1}}
    before = count_tasks(rt)
    response = client.post("/tasks/bulk", json={"tasks": [good, good, bad]})
    outcome = (response.status_code, response.headers["content-type"], count_tasks(rt) - before)
    assert outcome == (422, PROBLEM, 0)


def test_bulk_with_an_unknown_task_stores_none(client: TestClient, rt: Runtime) -> None:
    good = {"task_name": "echo_bot.echo"}
    before = count_tasks(rt)
    response = client.post("/tasks/bulk", json={"tasks": [good, {"task_name": "nope.nope"}]})
    assert (response.status_code, count_tasks(rt) - before) == (404, 0)


def test_bulk_with_no_tasks_is_refused(client: TestClient) -> None:
    assert client.post("/tasks/bulk", json={"tasks": []}).status_code == 422


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"status": "queued,bogus"},
        {"cursor": "not-a-cursor"},
        {"limit": "0"},
        {"limit": "1001"},
        {"created_since": "yesterday"},
    ],
    ids=["status", "one-bad-status", "cursor", "limit-0", "limit-1001", "created-since"],
)
def test_bad_list_query_is_a_422_problem(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/tasks", params=params)
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)


def test_cursor_with_a_naive_timestamp_is_a_422_problem(client: TestClient) -> None:
    cursor = base64.urlsafe_b64encode(b"2024-01-01T00:00:00|abc").decode()
    assert client.get("/tasks", params={"cursor": cursor}).status_code == 422


@pytest.mark.parametrize("path", ["/tasks/{}", "/status/{}", "/tasks/{}/events"])
def test_unknown_task_id_is_a_404_problem(client: TestClient, path: str) -> None:
    response = client.get(path.format("no-such-task"))
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM)


def test_unknown_module_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/modules/nope")
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM)


# -- listing ------------------------------------------------------------------------------------


def _pages(client: TestClient, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while len(pages) < 20:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = client.get("/tasks", params=query).json()
        pages.append([item["task_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    return pages


def test_list_pages_newest_first_through_every_task(own_client: TestClient) -> None:
    ids = [_run(own_client, text=str(i))["task_id"] for i in range(5)]
    assert _pages(own_client, limit=2) == [ids[4:2:-1], ids[2:0:-1], ids[:1]]


def test_list_filters_by_status(own_client: TestClient, own_rt: Runtime) -> None:
    done = _run(own_client)["task_id"]
    _run(own_client)
    _finish(own_rt, done)
    items = own_client.get("/tasks", params={"status": "success"}).json()["items"]
    assert [item["task_id"] for item in items] == [done]


def test_list_filters_by_comma_separated_statuses(own_client: TestClient, own_rt: Runtime) -> None:
    done, failed, _queued = (_run(own_client)["task_id"] for _ in range(3))
    _finish(own_rt, done)
    _finish(own_rt, failed, TaskStatus.FAILURE)
    items = own_client.get("/tasks", params={"status": "success,failure"}).json()["items"]
    assert {item["task_id"] for item in items} == {done, failed}


def test_list_filters_by_task_name(own_client: TestClient) -> None:
    wanted = _run(own_client, "core.noop")["task_id"]
    _run(own_client, "echo_bot.echo")
    items = own_client.get("/tasks", params={"task_name": "core.noop"}).json()["items"]
    assert [item["task_id"] for item in items] == [wanted]


def test_list_uses_the_configured_page_size(own_client: TestClient, own_rt: Runtime) -> None:
    own_rt.settings.api.page_size = 2
    for _ in range(3):
        _run(own_client)
    assert len(own_client.get("/tasks").json()["items"]) == 2


# -- odd bodies never become a 500 --------------------------------------------------------------


def _nested(depth: int) -> bytes:
    head = b'{"task_name": "echo_bot.echo", "kwargs": {"text": '
    return head + b"[" * depth + b"]" * depth + b"}}"


ODD_BODIES = [
    b"null",
    b"[]",
    b'"string"',
    b"5",
    b"true",
    b"",
    b"{}",
    b'{"task_name": 5}',
    b'{"task_name": null}',
    b'{"task_name": ["echo_bot.echo"]}',
    b'{"task_name": "echo_bot.echo", "kwargs": null}',
    b'{"task_name": "echo_bot.echo", "args": {"a": 1}}',
    _nested(50),
    _nested(300),
    _nested(1000),
    '{"task_name": "\u00e9cho_bot.\u00e9cho \U0001f389"}'.encode(),
    '{"task_name": "echo_bot.echo", "kwargs": {"text": "h\u00e9llo \U0001f389"}}'.encode(),
    b'{"task_name": "\\ud800"}',
    b'{"task_name": "echo_bot.echo", "kwargs": {"text": "\\udfff"}}',
    b'{"task_name": "echo_bot.echo", "kwargs": {"\\u0000": "\\u0000"}}',
    b'{"task_name": "echo_bot.echo", "kwargs": {"text": 1e999}}',
    b'{"task_name": "' + b"a" * 300 + b'"}',
    b'{"task_name": "echo_bot.echo", "queue": "' + b"q" * 300 + b'"}',
    b"\xff\xfe\x00garbage",
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=[f"body{i}" for i in range(len(ODD_BODIES))])
def test_odd_body_never_gives_a_500(client: TestClient, body: bytes) -> None:
    response = client.post("/tasks/run", content=body, headers=JSON)
    assert response.status_code < 500, response.text


@pytest.mark.parametrize("body", ODD_BODIES[:12], ids=[f"body{i}" for i in range(12)])
def test_odd_bulk_body_never_gives_a_500(client: TestClient, body: bytes) -> None:
    wrapped = b'{"tasks": [' + body + b"]}" if body else b'{"tasks": }'
    assert client.post("/tasks/bulk", content=wrapped, headers=JSON).status_code < 500


def test_idempotency_header_and_field_that_differ_are_refused(
    own_client: TestClient, own_rt: Runtime
) -> None:
    body = {"task_name": "echo_bot.echo", "kwargs": {}, "idempotency_key": "a"}
    response = own_client.post("/tasks/run", json=body, headers={"Idempotency-Key": "b"})
    assert (response.status_code, count_tasks(own_rt)) == (422, 0)


def test_idempotency_field_alone_deduplicates(own_client: TestClient, own_rt: Runtime) -> None:
    body = {"task_name": "echo_bot.echo", "kwargs": {"text": "x"}, "idempotency_key": "k1"}
    first, again = (
        own_client.post("/tasks/run", json=body),
        own_client.post("/tasks/run", json=body),
    )
    assert (first.status_code, again.status_code, count_tasks(own_rt)) == (202, 200, 1)


def test_concurrent_submits_share_writes_and_each_gets_its_own_answer(
    own_client: TestClient, own_rt: Runtime
) -> None:
    """Submits that arrive together are written together; a bad one, a repeated key and a
    reused key with another body answer on their own, and only the good ones are stored."""
    keyed = {"task_name": "echo_bot.echo", "kwargs": {"text": "k"}, "idempotency_key": "used"}
    original = own_client.post("/tasks/run", json=keyed)
    bodies: list[dict[str, Any]] = [
        *({"task_name": "echo_bot.echo", "kwargs": {"text": str(i)}} for i in range(30)),
        {"task_name": "echo_bot.nope"},
        keyed,
        {**keyed, "kwargs": {"text": "other"}},
        {**keyed, "idempotency_key": "new"},
    ]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: own_client.post("/tasks/run", json=b), bodies))
    assert [a.status_code for a in answers] == [202] * 30 + [404, 200, 409, 202]
    assert answers[31].json()["task_id"] == original.json()["task_id"]
    stored = [own_rt.store.get(a.json()["task_id"]) for a in answers[:30]]
    assert {r.kwargs["text"] for r in stored if r is not None} == {str(i) for i in range(30)}
    assert count_tasks(own_rt) == 32


def test_a_submit_stores_its_chosen_backoff(own_client: TestClient, own_rt: Runtime) -> None:
    body = {"task_name": "echo_bot.echo", "kwargs": {}, "backoff_base": 0.5, "backoff_cap": 2}
    task_id = own_client.post("/tasks/run", json=body).json()["task_id"]
    record = own_rt.store.get(task_id)
    assert record is not None and (record.backoff_base, record.backoff_cap) == (0.5, 2.0)


class _CountedService:
    """`get_service` for the FastAPI route, counting the requests that reached it."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        return self.rt.services.tasks


@pytest.fixture
def routed(own_rt: Runtime) -> Iterator[tuple[TestClient, _CountedService]]:
    app = create_app(own_rt.services)
    counted = _CountedService(own_rt)
    app.dependency_overrides[get_service] = counted
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client, counted


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_a_plain_json_submit_skips_the_router(
    routed: tuple[TestClient, _CountedService], content_type: str
) -> None:
    client, counted = routed
    body = b'{"task_name": "echo_bot.echo", "kwargs": {"text": "x"}}'
    response = client.post("/tasks/run", content=body, headers={"content-type": content_type})
    assert (response.status_code, counted.calls) == (202, 0), response.text


@pytest.mark.parametrize(
    ("headers", "body", "refused"),
    [
        pytest.param({"Idempotency-Key": "k", **JSON}, b'{"task_name": "core.noop"}', "", id="key"),
        pytest.param(JSON, b'{"task_name": "core.noop", "kwargs": []}', "kwargs", id="invalid"),
        # without a JSON content type FastAPI does not parse the body, so it is not an object
        pytest.param({}, b'{"task_name": "core.noop"}', "valid dictionary", id="no-content-type"),
    ],
)
def test_the_route_answers_what_the_submit_path_does_not_take(
    routed: tuple[TestClient, _CountedService], headers: dict[str, str], body: bytes, refused: str
) -> None:
    """The route gets the body whole: a lost replay would read as a missing task_name."""
    client, counted = routed
    response = client.post("/tasks/run", content=body, headers=headers)
    status = 422 if refused else 202
    assert (counted.calls, response.status_code) == (1, status), response.text
    assert refused in response.json().get("detail", ""), response.text


def test_the_submit_path_answers_as_the_route_does(
    routed: tuple[TestClient, _CountedService],
) -> None:
    """Same task, one through each: the same status, content type and view but for its own
    id and times."""
    client, counted = routed
    body = {"task_name": "echo_bot.echo", "kwargs": {"text": "same"}, "priority": "high"}
    fast = client.post("/tasks/run", json=body)
    routed_answer = client.post("/tasks/run", json=body, headers={"Idempotency-Key": "one"})
    assert counted.calls == 1
    own = {"task_id", "created_at", "updated_at"}
    views = [{k: v for k, v in r.json().items() if k not in own} for r in (fast, routed_answer)]
    assert views[0] == views[1]
    assert [(r.status_code, r.headers["content-type"]) for r in (fast, routed_answer)] == [
        (202, "application/json")
    ] * 2


def test_a_problem_is_the_same_from_either_path(
    routed: tuple[TestClient, _CountedService],
) -> None:
    client, counted = routed
    body = {"task_name": "echo_bot.ecko"}
    answers = [
        client.post("/tasks/run", json=body),
        client.post("/tasks/run", json=body, headers={"Idempotency-Key": "two"}),
    ]
    assert counted.calls == 1
    seen = [(a.status_code, a.headers["content-type"], a.json()) for a in answers]
    assert seen[0] == seen[1] and seen[0][0] == 404, seen


def test_a_repeated_key_header_answers_200_with_the_first_task(own_client: TestClient) -> None:
    body = {"task_name": "echo_bot.echo", "kwargs": {"text": "x"}}
    first, again = (
        own_client.post("/tasks/run", json=body, headers={"Idempotency-Key": "h"}) for _ in range(2)
    )
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["task_id"] == again.json()["task_id"]


class _Unused:
    async def accept_async(self, req: Any) -> Any:
        raise AssertionError("the submit path must hand this request to the route")


def _through_submit_path(headers: list[tuple[bytes, bytes]], messages: list[Any]) -> list[Any]:
    """Run one request through `SubmitPath` alone; what the app behind it received."""
    received: list[Any] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        while not received or received[-1].get("more_body", False):
            received.append(await receive())

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        raise AssertionError(f"the submit path answered itself: {message}")

    scope = {"type": "http", "method": "POST", "path": "/tasks/run", "headers": headers}
    asyncio.run(SubmitPath(route, _Unused())(scope, receive, send))  # type: ignore[arg-type]
    return received


def test_a_body_cut_short_by_a_disconnect_goes_to_the_route() -> None:
    """A client gone mid-body sent JSON that parses; the route refuses it (400)."""
    sent = [
        {"type": "http.request", "body": b'{"task_name": "core.noop"}', "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert _through_submit_path([(b"content-type", b"application/json")], list(sent)) == sent


def test_the_first_of_two_content_types_decides_as_for_the_route() -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-type", b"application/json")]
    sent = [{"type": "http.request", "body": b'{"task_name": "core.noop"}', "more_body": False}]
    assert _through_submit_path(headers, list(sent)) == sent
