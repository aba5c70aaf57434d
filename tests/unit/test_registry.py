"""The registry: discovery of built-in and configured modules, registration, lookups."""

from __future__ import annotations

import logging
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corehub.config.settings import ModulesSettings
from corehub.errors import InvalidInput, NotFound
from corehub.registry import ModuleInfo, Registry, discover
from corehub.registry.registry import DuplicateTask

# -- built-in modules ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin() -> Registry:
    return discover(ModulesSettings(entry_points=False))


def test_builtin_modules_are_discovered(builtin: Registry) -> None:
    assert {m.name for m in builtin.modules()} >= {"core", "echo_bot"}


def test_builtin_core_registers_its_tasks(builtin: Registry) -> None:
    assert sorted(builtin.module("core").tasks) == [
        "collect",
        "fail",
        "health_check",
        "noop",
        "sleep",
    ]


def test_builtin_queues_are_repopal_stages(builtin: Registry) -> None:
    assert builtin.queues() == ["dispatch", "events", "execute", "results"]


def test_builtin_repopal_registers_its_stages_and_pipeline(builtin: Registry) -> None:
    pipeline = builtin.pipeline("repopal.handle_event")
    assert pipeline is not None and [s.task for s in pipeline.steps] == [
        "repopal.process_event",
        "repopal.dispatch_command",
        "repopal.execute_command",
        "repopal.process_results",
    ]


def test_builtin_echo_bot_registers_echo(builtin: Registry) -> None:
    assert builtin.get("echo_bot.echo").func(text="hi") == {"echo": "hi"}


def test_builtin_module_reads_its_config_yaml(builtin: Registry) -> None:
    assert "description" in builtin.module("echo_bot").config


# -- configured module folders ------------------------------------------------------------------

GOOD = '''
"""Good module for tests.

It has a longer description too.
"""

__version__ = "2.3.4"


def hello(name: str, times: int = 1) -> str:
    """Greet someone."""
    return " ".join(["hello " + name] * times)


def register_tasks(registry):
    registry.register_task("{name}", "hello", hello)


def heartbeat():
    return {{"status": "ok", "checked": 1}}
'''

BROKEN = """
raise RuntimeError("this module cannot be imported")
"""

NO_REGISTER = '''
"""A module that forgot register_tasks."""
'''

HALF_WAY = """
def first():
    return 1


def register_tasks(registry):
    registry.register_task("{name}", "first", first)
    raise ValueError("registration failed half-way")
"""


@dataclass
class Folder:
    path: Path
    good: str
    broken: str
    no_register: str
    half_way: str
    registry: Registry
    log: str


def _package(folder: Path, name: str, source: str) -> str:
    pkg = folder / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(source).format(name=name))
    return name


@pytest.fixture
def folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[Folder]:
    """A module folder with one good and three bad packages, discovered once."""
    suffix = uuid.uuid4().hex[:8]
    path = tmp_path / "mods"
    path.mkdir()
    good = _package(path, f"good_{suffix}", GOOD)
    (path / good / "config.yaml").write_text("greeting: hi\nretries: 3\n")
    broken = _package(path, f"broken_{suffix}", BROKEN)
    no_register = _package(path, f"noreg_{suffix}", NO_REGISTER)
    half_way = _package(path, f"half_{suffix}", HALF_WAY)
    monkeypatch.setattr(sys, "path", list(sys.path))  # discovery prepends the folder
    with caplog.at_level(logging.ERROR, logger="corehub.registry"):
        registry = discover(ModulesSettings(paths=[path], entry_points=False))
    yield Folder(path, good, broken, no_register, half_way, registry, caplog.text)
    for name in (good, broken, no_register, half_way):
        sys.modules.pop(name, None)


def test_configured_module_is_loaded(folder: Folder) -> None:
    assert folder.registry.has_module(folder.good)


def test_configured_module_task_is_registered(folder: Folder) -> None:
    spec = folder.registry.get(f"{folder.good}.hello")
    assert spec.func("ann", times=2) == "hello ann hello ann"


def test_configured_module_metadata(folder: Folder) -> None:
    info = folder.registry.module(folder.good)
    assert (info.version, info.description, info.source) == (
        "2.3.4",
        "Good module for tests.",
        str(folder.path.resolve()),
    )


def test_configured_module_config_yaml_is_read(folder: Folder) -> None:
    assert folder.registry.module(folder.good).config == {"greeting": "hi", "retries": 3}


def test_configured_module_heartbeat_is_called(folder: Folder) -> None:
    assert folder.registry.heartbeat(folder.good) == {"status": "ok", "checked": 1}


def test_module_raising_at_import_is_skipped(folder: Folder) -> None:
    assert not folder.registry.has_module(folder.broken)


def test_module_raising_at_import_is_logged(folder: Folder) -> None:
    assert f"module {folder.broken} from" in folder.log


def test_module_without_register_tasks_is_skipped(folder: Folder) -> None:
    assert not folder.registry.has_module(folder.no_register)


def test_module_without_register_tasks_is_logged(folder: Folder) -> None:
    assert f"module {folder.no_register} from" in folder.log


def test_module_failing_half_way_leaves_none_of_its_tasks(folder: Folder) -> None:
    assert folder.registry.find(f"{folder.half_way}.first") is None


def test_builtins_still_load_beside_broken_modules(folder: Folder) -> None:
    assert {"core", "echo_bot"} <= {m.name for m in folder.registry.modules()}


def test_missing_module_folder_is_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="corehub.registry"):
        discover(ModulesSettings(paths=[tmp_path / "nope"], entry_points=False))
    assert "is not a folder" in caplog.text


# -- registration by hand -----------------------------------------------------------------------


def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Second paragraph.
    """
    return a + b


def everything(a: int, b: str = "x", c: float | None = None, *rest: int, **extra: Any) -> None:
    """Take every kind of parameter."""


def test_seed_form_registers_under_module_dot_task() -> None:
    registry = Registry()
    spec = registry.register_task("maths", "add", add)
    assert registry.get("maths.add") is spec


def test_seed_form_records_the_module() -> None:
    registry = Registry()
    registry.register_task("maths", "add", add)
    assert registry.module("maths").tasks == ["add"]


def test_decorator_registers_under_the_function_name() -> None:
    registry = Registry()
    registry.task("maths")(add)
    assert registry.get("maths.add").func is add


def test_decorator_returns_the_function_unchanged() -> None:
    registry = Registry()

    @registry.task("maths")
    def double(x: int) -> int:
        return 2 * x

    assert double(4) == 8


def test_decorator_takes_a_name_and_options() -> None:
    registry = Registry()
    registry.task("maths", "plus", queue="fast", max_attempts=3)(add)
    options = registry.get("maths.plus").options
    assert (options.queue, options.max_attempts) == ("fast", 3)


def test_duplicate_registration_raises() -> None:
    registry = Registry()
    registry.register_task("maths", "add", add)
    with pytest.raises(DuplicateTask):
        registry.register_task("maths", "add", everything)


def test_duplicate_registration_keeps_the_first() -> None:
    registry = Registry()
    registry.register_task("maths", "add", add)
    with pytest.raises(DuplicateTask):
        registry.task("maths", "add")(everything)
    assert registry.get("maths.add").func is add


def test_get_unknown_name_raises_not_found_naming_it() -> None:
    registry = Registry()
    registry.register_task("echo_bot", "echo", add)
    with pytest.raises(NotFound, match=r"'echo_bot\.ecko'"):
        registry.get("echo_bot.ecko")


def test_get_unknown_name_suggests_close_matches() -> None:
    registry = Registry()
    registry.register_task("echo_bot", "echo", add)
    registry.register_task("core", "noop", add)
    with pytest.raises(NotFound, match=r"did you mean echo_bot\.echo\?"):
        registry.get("echo_bot.ecko")


def test_get_unknown_name_without_close_match_suggests_nothing() -> None:
    registry = Registry()
    registry.register_task("echo_bot", "echo", add)
    with pytest.raises(NotFound) as info:
        registry.get("zzz.qqq")
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [([], {"c": 1}), ([], {}), ([1, 2, 3], {}), ([1], {"a": 1})],
    ids=["unknown-kwarg", "missing-required", "too-many-positional", "given-twice"],
)
def test_check_arguments_refuses_what_does_not_bind(
    args: list[Any], kwargs: dict[str, Any]
) -> None:
    registry = Registry()
    spec = registry.register_task("maths", "add", add)
    with pytest.raises(InvalidInput):
        spec.check_arguments(args, kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"), [([], {"a": 1}), ([1], {"b": 5}), ([1, 2], {}), ([], {"a": 1, "b": 2})]
)
def test_check_arguments_accepts_what_binds(args: list[Any], kwargs: dict[str, Any]) -> None:
    registry = Registry()
    spec = registry.register_task("maths", "add", add)
    spec.check_arguments(args, kwargs)  # raises InvalidInput when they do not bind


def test_parameters_expose_names_annotations_defaults_and_required() -> None:
    spec = Registry().register_task("m", "everything", everything)
    described = [(p.name, p.annotation, p.default, p.required) for p in spec.parameters]
    assert described == [
        ("a", "int", None, True),
        ("b", "str", "x", False),
        ("c", "float | None", None, False),
        ("rest", "int", None, False),
        ("extra", "Any", None, False),
    ]


def test_parameters_expose_their_kind() -> None:
    spec = Registry().register_task("m", "everything", everything)
    assert [p.kind for p in spec.parameters] == [
        "positional_or_keyword",
        "positional_or_keyword",
        "positional_or_keyword",
        "var_positional",
        "var_keyword",
    ]


def test_description_is_the_first_docstring_line() -> None:
    assert Registry().register_task("m", "add", add).description == "Add two numbers."


def _failing_heartbeat() -> dict[str, Any]:
    raise ConnectionError("downstream is down")


def test_raising_heartbeat_is_reported_as_error() -> None:
    registry = Registry()
    registry.add_module(ModuleInfo("flaky", "1", "", "code", heartbeat=_failing_heartbeat))
    assert registry.heartbeat("flaky")["status"] == "error"


def test_module_without_heartbeat_reports_ok() -> None:
    registry = Registry()
    registry.register_task("plain", "add", add)
    assert registry.heartbeat("plain") == {"status": "ok"}


def test_unknown_module_raises_not_found() -> None:
    with pytest.raises(NotFound):
        Registry().module("nope")
