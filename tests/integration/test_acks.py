"""What a worker has acknowledged to its broker while tasks run, as the worker itself reports it
(Celery's remote `inspect active`), on every shared broker: the message of a task corehub
accepted is acknowledged once a pool process took it, a plain Celery client's only when its
task ends."""

from __future__ import annotations

import time

from celery import Celery

from tests.integration.hubs import Hub


def _acknowledged_while_running(app: Celery, task_ids: set[str]) -> dict[str, bool]:
    """Each running task's `acknowledged` flag, once all of them are running."""
    deadline = time.monotonic() + 30
    seen: dict[str, bool] = {}
    while time.monotonic() < deadline:
        # Every reply, each worker process's own.
        replies = app.control.broadcast("active", reply=True, timeout=1.0) or []
        seen = {
            info["id"]: info["acknowledged"]
            for reply in replies
            for infos in reply.values()
            for info in infos
            if info["id"] in task_ids
        }
        if set(seen) == task_ids:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"not all running within 30 s: {seen}")


def test_a_task_with_its_row_holds_no_unacknowledged_message_while_it_runs(
    shared_broker_hub: Hub,
) -> None:
    hub = shared_broker_hub
    plain = Celery("someone-else", broker=hub.broker_url)
    with hub.client() as client:
        accepted = client.run("core.sleep", {"seconds": 3}).task_id
    sent = plain.send_task("core.sleep", kwargs={"seconds": 3}).id

    seen = _acknowledged_while_running(plain, {accepted, sent})

    assert seen == {accepted: True, sent: False}
    assert [v.status for v in hub.wait_all([accepted, sent], timeout=60)] == ["success"] * 2
