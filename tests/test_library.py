"""Library-level submit and entry-point modules: the Python ways in."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import corehub
from corehub import local
from corehub.config.settings import ModulesSettings
from corehub.registry import discover
from corehub.store import TaskFilter


@pytest.fixture
def installation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installation's settings in the environment, as a host application would have."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COREHUB_DATA_DIR", str(tmp_path / "data"))
    local.reset()
    yield tmp_path
    local.reset()


def test_submit_commits_a_queued_row_with_its_event(installation: Path) -> None:
    task_id = corehub.submit("echo_bot.echo", text="x")
    store = local.local_runtime().store
    record, events = store.get(task_id), store.events(task_id)
    assert (record and record.status, record and record.kwargs, [e.type for e in events]) == (
        "queued",
        {"text": "x"},
        ["queued"],
    )


def test_submit_many_is_all_or_nothing(installation: Path) -> None:
    with pytest.raises(corehub.errors.NotFound):
        corehub.submit_many([("echo_bot.echo", {"text": "a"}), ("echo_bot.nope", {})])
    store = local.local_runtime().store
    assert store.list_tasks(TaskFilter(), limit=10).items == []


def test_submit_many_returns_ids_in_order(installation: Path) -> None:
    ids = corehub.submit_many([("echo_bot.echo", {"text": "a"}), ("core.noop", {})])
    store = local.local_runtime().store
    assert [store.get(i).name for i in ids] == ["echo_bot.echo", "core.noop"]  # type: ignore[union-attr]


def test_submit_rejects_unbound_arguments(installation: Path) -> None:
    with pytest.raises(corehub.errors.InvalidInput):
        corehub.submit("echo_bot.echo", nope=1)


def test_modules_of_the_entry_point_group_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "ep_pkg_greeter"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent('''
        """Greets."""
        __version__ = "2.0"
        def greet(name: str) -> str:
            return "hi " + name
        def register_tasks(registry):
            registry.register_task("greeter", "greet", greet)
    ''')
    )
    dist = tmp_path / "ep_pkg_greeter-2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pkg-greeter\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text("[corehub.modules]\ngreeter = ep_pkg_greeter\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover(ModulesSettings())
    info = registry.module("greeter")
    assert (info.version, info.tasks, registry.get("greeter.greet").func("x")) == (
        "2.0",
        ["greet"],
        "hi x",
    )
