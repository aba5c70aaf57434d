"""Flow limits as a submit sees them, and the /flow API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from corehub.api import create_app
from corehub.config import Settings
from corehub.errors import InvalidInput
from corehub.registry import Registry
from corehub.runtime import Runtime, build_runtime
from corehub.service import SubmitRequest
from corehub.store import TaskStatus


def fetch(repo: str, n: int = 0) -> str:
    """A task limited per repository."""
    return repo


def plain(x: int = 0) -> int:
    return x


def registry() -> Registry:
    reg = Registry()
    reg.register_task(
        "gh", "fetch", fetch, rate_limit="10/s", rate_key="repo", concurrency=2, needs=("github",)
    )
    reg.register_task(
        "gh", "keyed", fetch, concurrency=1, concurrency_key=lambda kw: kw["repo"][:3]
    )
    reg.register_task("gh", "plain", plain)
    return reg


def runtime(root: Path, **settings: Any) -> Runtime:
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("COREHUB_")]:
            mp.delenv(name)
        mp.setenv("HOME", str(root))
        mp.chdir(root)
        built = Settings(data_dir=root / "data", **settings)
    return build_runtime(built, publish=False, registry=registry())


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime_ = runtime(tmp_path, flow={"rate_limits": {"gh.plain": "1/m"}})
    yield runtime_
    runtime_.close()


def test_a_declared_limit_gates_the_task_with_keys_from_its_kwargs(rt: Runtime) -> None:
    new = rt.service.prepare(SubmitRequest("gh.fetch", {"repo": "a/b"}))
    assert (new.gated, new.rate_key, new.concurrency_key, new.needs) == (
        True,
        "gh.fetch:a/b",
        "gh.fetch",
        ["github"],
    )


def test_a_key_function_receives_the_kwargs(rt: Runtime) -> None:
    new = rt.service.prepare(SubmitRequest("gh.keyed", {"repo": "abcdef"}))
    assert (new.concurrency_key, new.rate_key) == ("gh.keyed:abc", None)


def test_a_key_that_cannot_be_computed_is_invalid_input(rt: Runtime) -> None:
    with pytest.raises(InvalidInput, match="flow key"):
        rt.service.prepare(SubmitRequest("gh.keyed", {"repo": 5}))


def test_settings_limit_a_task_that_declares_none(rt: Runtime) -> None:
    record = rt.service.submit(SubmitRequest("gh.plain", {"x": 1}))
    assert (record.status, record.gated, record.rate_key) == (
        TaskStatus.SCHEDULED,
        True,
        "gh.plain",
    )


def test_a_task_without_limits_is_not_gated(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    try:
        record = rt.service.submit(SubmitRequest("gh.plain", {"x": 1}))
    finally:
        rt.close()
    assert (record.status, record.gated) == (TaskStatus.QUEUED, False)


def test_a_bad_rate_in_code_fails_the_registration() -> None:
    with pytest.raises(ValueError, match="invalid rate"):
        Registry().register_task("gh", "bad", plain, rate_limit="fast")


def test_limits_api_lists_rates_with_tokens_and_concurrency(rt: Runtime) -> None:
    with TestClient(create_app(rt.services)) as client:
        body = client.get("/flow/limits").json()
    rates = {r["task_name"]: r["rate"] for r in body["rate_limits"]}
    concurrency = {c["task_name"]: c["limit"] for c in body["concurrency"]}
    assert (rates, concurrency) == (
        {"gh.fetch": "10/s", "gh.plain": "1/m"},
        {"gh.fetch": 2, "gh.keyed": 1},
    )


def test_breakers_api_shows_state_and_counts_and_resets(rt: Runtime) -> None:
    from corehub.service.flow import FlowPolicy
    from corehub.store.flow import FlowStore

    policy = FlowPolicy(rt.settings, rt.registry)
    for _ in range(5):
        FlowStore(rt.db).record_outcome(["github"], policy.breaker, success=False)
    with TestClient(create_app(rt.services)) as client:
        [before] = client.get("/flow/breakers").json()
        after = client.post("/flow/breakers/github/reset").json()
        missing = client.post("/flow/breakers/nope/reset").status_code
    assert (
        before["state"],
        before["failures_in_window"],
        before["times_opened"],
        after["state"],
        missing,
    ) == ("open", 5, 1, "closed", 404)
