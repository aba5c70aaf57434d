"""Workers die, pause and poison themselves; every accepted task still ends exactly once."""

from __future__ import annotations

import os
import signal
import time

from corehub.schemas import TaskView
from tests.chaos.conftest import HubFactory
from tests.integration.hubs import Hub
from tests.unit.helpers import wait_for


def _running(hub: Hub, task_id: str, timeout: float = 30) -> TaskView:
    """Wait until an attempt holds the task; its `worker` names the process (host:pid)."""
    deadline = time.monotonic() + timeout
    with hub.client() as client:
        while time.monotonic() < deadline:
            view = client.get(task_id)
            if view.status == "started":
                return view
            time.sleep(0.05)
    raise AssertionError(f"task {task_id} never started\n{hub.logs()}")


def _pid(view: TaskView) -> int:
    return int((view.worker or "").rsplit(":", 1)[1])


def _types(hub: Hub, task_id: str) -> list[str]:
    with hub.client() as client:
        return [e.type for e in client.events(task_id)]


def test_pool_child_killed_mid_task_is_rescued_and_finishes(make_hub: HubFactory) -> None:
    hub = make_hub()
    with hub.client() as client:
        task_id = client.run("core.sleep", {"seconds": 1.5}).task_id
    os.kill(_pid(_running(hub, task_id)), signal.SIGKILL)
    [final] = hub.wait_all([task_id], timeout=60)
    assert (final.status, final.attempt, "rescued" in _types(hub, task_id)) == ("success", 2, True)


def test_paused_worker_is_rescued_and_its_late_finish_is_fenced(make_hub: HubFactory) -> None:
    hub = make_hub()
    with hub.client() as client:
        task_id = client.run("core.sleep", {"seconds": 1.0}).task_id
    zombie = _pid(_running(hub, task_id))
    os.kill(zombie, signal.SIGSTOP)
    try:
        [final] = hub.wait_all([task_id], timeout=60)
    finally:
        os.kill(zombie, signal.SIGCONT)
    deadline = time.monotonic() + 20
    while "fenced" not in _types(hub, task_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    with hub.client() as client:
        after = client.get(task_id)
    assert (
        final.status,
        final.attempt,
        after.status,
        after.attempt,
        _types(hub, task_id).count("success"),
        "fenced" in _types(hub, task_id),
    ) == ("success", 2, "success", 2, 1, True)


def test_poison_task_ends_dead_while_other_tasks_flow(make_hub: HubFactory) -> None:
    hub = make_hub()
    with hub.client() as client:
        poison = client.run("testkit.suicide").task_id
        others = [client.run("echo_bot.echo", {"text": str(i)}).task_id for i in range(20)]
    views = hub.wait_all([poison, *others], timeout=90)
    assert (
        [v.status for v in views],
        views[0].attempt,
        views[0].error_detail and views[0].error_detail.error_class,
    ) == (["dead"] + ["success"] * 20, 3, "worker_lost")


def test_a_paused_scheduler_leader_is_replaced_and_stays_deposed(make_hub: HubFactory) -> None:
    hub = make_hub(schedulers=2)
    with hub.client() as client:
        # The hub is ready when its API answers; its schedulers may still be starting.
        assert wait_for(lambda: _leader(hub) is not None, timeout=15), hub.logs()
        first = _leader(hub)
        leader_proc = next(
            p
            for p in hub.processes
            if p.name.startswith("scheduler")
            and p.proc is not None
            and _holder_pid(first) == p.proc.pid
        )
        leader_proc.signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 15
            while _leader(hub) in (first, None) and time.monotonic() < deadline:
                time.sleep(0.2)
            second = _leader(hub)
            task_id = client.run("core.sleep", {"seconds": 1.0}).task_id
            os.kill(_pid(_running(hub, task_id)), signal.SIGKILL)
        finally:
            leader_proc.signal(signal.SIGCONT)
        [final] = hub.wait_all([task_id], timeout=60)
        time.sleep(1.0)
        third = _leader(hub)
    assert (second not in (first, None), third, final.status) == (True, second, "success")


def _holder_pid(holder: str | None) -> int:
    return int((holder or "::").split(":")[1] or 0)


def _leader(hub: Hub) -> str | None:
    import httpx

    leader = httpx.get(f"{hub.url}/health", timeout=10).json()["scheduler"]["leader"]
    return str(leader) if leader else None
