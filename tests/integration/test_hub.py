"""What a user of a hub sees, on every backend combination the hub supports."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from celery import Celery
from kombu import Connection, Queue

from corehub.store.states import TaskStatus, is_legal
from tests.integration.hubs import Hub

SEQUENTIAL = 200


# What the bad requests below name. The hub's own periodic `core.health_check` may add a row
# at any moment, so counting every row raced with it (seen once in a full run).
REQUESTED = ("echo_bot.echo", "echo_bot.nope")


def _count(hub: Hub) -> int:
    """Rows of the tasks the bad requests name (paged through the API)."""
    total = 0
    with hub.client() as client:
        for name in REQUESTED:
            cursor = None
            while True:
                page = client.list_tasks(task_name=name, limit=1000, cursor=cursor)
                total += len(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
    return total


def test_echo_task_reaches_success_with_its_result(hub: Hub) -> None:
    with hub.client() as client:
        view = client.run("echo_bot.echo", {"text": "hello"})
        final = client.wait(view.task_id, timeout=30)
    assert (final.status, final.result) == ("success", {"echo": "hello"})


def test_sequential_submissions_all_succeed_with_queued_started_success(hub: Hub) -> None:
    with hub.client() as client:
        ids = [client.run("echo_bot.echo", {"text": str(i)}).task_id for i in range(SEQUENTIAL)]
        views = hub.wait_all(ids, timeout=120)
        histories = {tuple(e.type for e in client.events(i)) for i in ids}
    assert {v.status for v in views} == {"success"}
    assert histories == {("queued", "started", "success")}


def test_failing_task_records_its_error(hub: Hub) -> None:
    with hub.client() as client:
        view = client.run("core.fail", {"message": "boom"})
        final = client.wait(view.task_id, timeout=30)
    assert (final.status, final.error, final.error_detail and final.error_detail.type) == (
        "failure",
        "boom",
        "RuntimeError",
    )


def test_event_log_holds_only_legal_transitions(hub: Hub) -> None:
    with hub.client() as client:
        ids = [client.run("echo_bot.echo", {"text": "x"}).task_id for _ in range(5)]
        ids.append(client.run("core.fail", {}).task_id)
        hub.wait_all(ids)
        events = [e for i in ids for e in client.events(i) if e.to_status is not None]
    illegal = [
        (e.task_id, e.from_status, e.to_status)
        for e in events
        if not is_legal(
            TaskStatus(e.from_status) if e.from_status else None, TaskStatus(e.to_status or "")
        )
    ]
    assert illegal == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"task_name": "echo_bot.nope", "kwargs": {}}', 404),
        (b'{"task_name": "echo_bot.echo", "kwargs": {"txt": "x"}}', 422),
        (b'{"task_name": "echo_bot.echo", "kwargs": ', 422),
        (b'{"task_name": "echo_bot.echo", "kwargs": {"text": "' + b"x" * (1 << 20) + b'"}}', 413),
        (b'{"task_name": "echo_bot.echo", "kwargs": []}', 422),
        (b"[]", 422),
    ],
    ids=["unknown-task", "unbound-kwargs", "malformed-json", "oversize", "kwargs-list", "array"],
)
def test_bad_input_gets_its_status_and_stores_nothing(hub: Hub, body: bytes, status: int) -> None:
    before = _count(hub)
    response = httpx.post(
        f"{hub.url}/tasks/run",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert (response.status_code, response.headers["content-type"], _count(hub)) == (
        status,
        "application/problem+json",
        before,
    )


def test_plain_celery_client_task_runs_and_is_listed(shared_broker_hub: Hub) -> None:
    hub = shared_broker_hub
    plain = Celery("someone-else", broker=hub.broker_url)
    result = plain.send_task("echo_bot.echo", kwargs={"text": "from celery"})
    [final] = hub.wait_all([result.id], timeout=60)
    with hub.client() as client:
        listed = [v.task_id for v in client.list_tasks(task_name="echo_bot.echo", limit=1000).items]
    assert (final.status, final.result, result.id in listed) == (
        "success",
        {"echo": "from celery"},
        True,
    )


def test_plain_celery_client_unknown_task_becomes_failed_row(shared_broker_hub: Hub) -> None:
    hub = shared_broker_hub
    plain = Celery("someone-else", broker=hub.broker_url)
    task_id = str(uuid.uuid4())
    plain.send_task("nobody.knows", kwargs={"secret": "s3cr3t"}, task_id=task_id)
    [final] = hub.wait_all([task_id], timeout=60)
    logs = "\n".join(p.tail(400) for p in hub.processes)
    assert (
        final.status,
        final.error_detail and final.error_detail.error_class,
        "s3cr3t" in logs,
    ) == ("failure", "unknown_task", False)


def test_result_that_is_not_json_fails_the_task(hub: Hub) -> None:
    with hub.client() as client:
        final = client.wait(client.run("testkit.returns_set").task_id, timeout=30)
    assert (final.status, final.error_detail and final.error_detail.error_class) == (
        "failure",
        "invalid_result",
    )


def test_result_over_the_limit_fails_the_task(hub: Hub) -> None:
    with hub.client() as client:
        small = client.run("testkit.returns_big", {"size": 100}).task_id
        big = client.run("testkit.returns_big", {"size": 100_000}).task_id
        views = [client.wait(t, timeout=30) for t in (small, big)]
    assert [v.status for v in views] == ["success", "failure"]


def test_positional_arguments_are_passed(hub: Hub) -> None:
    with hub.client() as client:
        final = client.wait(client.run("testkit.add", args=[2, 3]).task_id, timeout=30)
    assert final.result == 5


def test_duplicate_delivery_of_one_message_runs_once(shared_broker_hub: Hub) -> None:
    hub = shared_broker_hub
    plain = Celery("someone-else", broker=hub.broker_url)
    task_id = str(uuid.uuid4())
    for _ in range(3):
        plain.send_task("core.sleep", kwargs={"seconds": 0.2}, task_id=task_id)
    [final] = hub.wait_all([task_id], timeout=60)
    time.sleep(1.0)  # let the duplicates arrive and lose their claim
    with hub.client() as client:
        types = [e.type for e in client.events(task_id)]
    assert (final.status, types) == ("success", ["queued", "started", "success"])


def test_undecodable_message_becomes_failed_row_without_its_body(shared_broker_hub: Hub) -> None:
    hub = shared_broker_hub
    task_id = str(uuid.uuid4())
    with Connection(hub.broker_url) as conn:
        conn.Producer().publish(
            b"\x80\x04not json s3cr3t-body",
            routing_key="celery",
            exchange="",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"id": task_id, "task": "echo_bot.echo", "lang": "py"},
            declare=[Queue("celery")],
        )
    [final] = hub.wait_all([task_id], timeout=60)
    logs = "\n".join(p.tail(400) for p in hub.processes)
    with hub.client() as client:  # and the worker goes on consuming
        after = client.wait(client.run("echo_bot.echo", {"text": "next"}).task_id, timeout=30)
    assert (
        final.status,
        final.error_detail and final.error_detail.error_class,
        "s3cr3t" in logs,
        after.status,
    ) == ("failure", "malformed_message", False, "success")


def test_each_worker_process_answers_under_a_node_name_of_its_own(shared_broker_hub: Hub) -> None:
    """Two `corehub worker`s on one host: Celery would name both `celery@host` (and warn)."""
    app = Celery("probe", broker=shared_broker_hub.broker_url)
    names: set[str] = set()
    deadline = time.monotonic() + 20
    while len(names) < 2 and time.monotonic() < deadline:
        names |= {name for reply in app.control.ping(timeout=1.0) for name in reply}
    assert len(names) == 2, names
    assert all(name.startswith("corehub-") for name in names), names
    logs = "".join(p.log.read_text() for p in shared_broker_hub.processes if p.log.exists())
    assert "DuplicateNodenameWarning" not in logs
