"""`corehub.Client` and `corehub.AsyncClient` against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

import corehub
from corehub.client import AsyncClient, Client, HubUnreachable
from corehub.config import Settings
from corehub.errors import InvalidInput, NotFound
from corehub.runtime import build_runtime
from corehub.schemas import TERMINAL_STATUSES, RunTaskRequest, TaskView
from corehub.store.states import TERMINAL
from tests.unit.helpers import free_port, serving

T = TypeVar("T")


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A hub API (no broker: tasks stay queued) served by uvicorn in a thread."""
    root = tmp_path_factory.mktemp("client-hub")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("COREHUB_")]:
            mp.delenv(name)
        mp.setenv("HOME", str(root))
        mp.chdir(root)
        settings = Settings(data_dir=root / "data")
    rt = build_runtime(settings, publish=False)
    with serving(rt) as url:
        yield url
    rt.close()


@pytest.fixture
def hub(hub_url: str) -> Iterator[corehub.Client]:
    with corehub.Client(hub_url) as client:
        yield client


def _arun(hub_url: str, call: Callable[[corehub.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with corehub.AsyncClient(hub_url) as client:
            return await call(client)

    return asyncio.run(main())


def _unreachable_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# -- sync -------------------------------------------------------------------------------------


def test_ping(hub: corehub.Client) -> None:
    assert hub.ping().status == "ok"


def test_run_returns_a_queued_task(hub: corehub.Client) -> None:
    view = hub.run("echo_bot.echo", {"text": "hi"})
    assert (view.task_name, view.status, view.kwargs) == ("echo_bot.echo", "queued", {"text": "hi"})


def test_run_passes_options(hub: corehub.Client) -> None:
    assert hub.run("core.noop", queue="fast", priority="low").queue == "fast"


def test_get_returns_the_run_task(hub: corehub.Client) -> None:
    view = hub.run("echo_bot.echo", {"text": "get"})
    assert hub.get(view.task_id) == view


def test_list_tasks_finds_the_run_task(hub: corehub.Client) -> None:
    view = hub.run("core.health_check")
    page = hub.list_tasks(task_name="core.health_check", status=["queued"], limit=1000)
    assert view.task_id in {item.task_id for item in page.items}


def test_list_tasks_paginates_with_the_cursor(hub: corehub.Client) -> None:
    ids = {hub.run("core.sleep", {"seconds": 0}).task_id for _ in range(3)}
    first = hub.list_tasks(task_name="core.sleep", limit=2)
    rest = hub.list_tasks(task_name="core.sleep", limit=2, cursor=first.next_cursor)
    assert {i.task_id for i in first.items + rest.items} == ids


def test_events_start_with_queued(hub: corehub.Client) -> None:
    view = hub.run("echo_bot.echo")
    assert [e.type for e in hub.events(view.task_id)] == ["queued"]


def test_modules_include_the_builtins(hub: corehub.Client) -> None:
    assert {m.name for m in hub.modules()} >= {"core", "echo_bot"}


def test_registered_tasks_include_echo(hub: corehub.Client) -> None:
    assert "echo_bot.echo" in {t.name for t in hub.registered_tasks()}


def test_run_many_returns_one_id_per_request(hub: corehub.Client) -> None:
    requests = [
        RunTaskRequest(task_name="echo_bot.echo", kwargs={"text": str(i)}) for i in range(3)
    ]
    ids = hub.run_many(requests)
    assert [hub.get(i).kwargs["text"] for i in ids] == ["0", "1", "2"]


def test_get_of_an_unknown_id_raises_not_found(hub: corehub.Client) -> None:
    with pytest.raises(NotFound):
        hub.get("no-such-task")


def test_run_of_an_unknown_task_raises_not_found_with_the_detail(hub: corehub.Client) -> None:
    with pytest.raises(NotFound, match=r"echo_bot\.echo"):
        hub.run("echo_bot.ecko")


def test_run_with_unbindable_kwargs_raises_invalid_input(hub: corehub.Client) -> None:
    with pytest.raises(InvalidInput):
        hub.run("echo_bot.echo", {"nope": 1})


def test_list_tasks_with_a_bad_status_raises_invalid_input(hub: corehub.Client) -> None:
    with pytest.raises(InvalidInput):
        hub.list_tasks(status=["bogus"])


def test_wait_times_out_on_a_task_nobody_runs(hub: corehub.Client) -> None:
    view = hub.run("core.noop")
    with pytest.raises(TimeoutError):
        hub.wait(view.task_id, timeout=0.2, poll=0.05)


def test_unreachable_hub_raises_hub_unreachable() -> None:
    with corehub.Client(_unreachable_url(), timeout=2) as client, pytest.raises(HubUnreachable):
        client.ping()


# -- async ------------------------------------------------------------------------------------


def test_async_ping(hub_url: str) -> None:
    assert _arun(hub_url, lambda c: c.ping()).status == "ok"


def test_async_run_then_get_agree(hub_url: str) -> None:
    async def call(client: corehub.AsyncClient) -> tuple[TaskView, TaskView]:
        view = await client.run("echo_bot.echo", {"text": "async"})
        return view, await client.get(view.task_id)

    submitted, fetched = _arun(hub_url, call)
    assert fetched == submitted


def test_async_list_tasks_finds_the_run_task(hub_url: str) -> None:
    async def call(client: corehub.AsyncClient) -> tuple[str, set[str]]:
        view = await client.run("echo_bot.echo", {"text": "listed"})
        page = await client.list_tasks(task_name="echo_bot.echo", limit=1000)
        return view.task_id, {item.task_id for item in page.items}

    task_id, listed = _arun(hub_url, call)
    assert task_id in listed


def test_async_events_start_with_queued(hub_url: str) -> None:
    async def call(client: corehub.AsyncClient) -> list[str]:
        view = await client.run("echo_bot.echo")
        return [e.type for e in await client.events(view.task_id)]

    assert _arun(hub_url, call) == ["queued"]


def test_async_modules_include_the_builtins(hub_url: str) -> None:
    assert {m.name for m in _arun(hub_url, lambda c: c.modules())} >= {"core", "echo_bot"}


def test_async_get_of_an_unknown_id_raises_not_found(hub_url: str) -> None:
    with pytest.raises(NotFound):
        _arun(hub_url, lambda c: c.get("no-such-task"))


def test_async_run_with_unbindable_kwargs_raises_invalid_input(hub_url: str) -> None:
    with pytest.raises(InvalidInput):
        _arun(hub_url, lambda c: c.run("echo_bot.echo", {"nope": 1}))


def test_async_wait_times_out_on_a_task_nobody_runs(hub_url: str) -> None:
    async def call(client: corehub.AsyncClient) -> Any:
        view = await client.run("core.noop")
        return await client.wait(view.task_id, timeout=0.2, poll=0.05)

    with pytest.raises(TimeoutError):
        _arun(hub_url, call)


def test_async_unreachable_hub_raises_hub_unreachable() -> None:
    with pytest.raises(HubUnreachable):
        _arun(_unreachable_url(), lambda c: c.ping())


# -- the contract's terminal states -----------------------------------------------------------


def test_client_terminal_statuses_mirror_the_store() -> None:
    assert {s.value for s in TERMINAL} == TERMINAL_STATUSES


def test_package_exports_the_clients() -> None:
    assert (corehub.Client, corehub.AsyncClient) == (Client, AsyncClient)
