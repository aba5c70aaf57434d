"""Settings: defaults, environment, YAML files, their priority, errors, masking, reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from corehub.config import Settings, load_settings
from corehub.config.reference import markdown_table
from corehub.config.settings import ApiSettings, BrokerSettings, DatabaseSettings
from corehub.config.view import flatten
from corehub.errors import ConfigError


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _user_config() -> Path:
    return Path.home() / ".corehub" / "config.yaml"


def _problems() -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings()
    return info.value.problems


# -- defaults ---------------------------------------------------------------------------------


def test_default_database_is_sqlite_under_data_dir(clean_env: Path) -> None:
    assert load_settings().database.url == "sqlite:///.corehub/corehub.db"


def test_default_database_follows_a_configured_data_dir(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COREHUB_DATA_DIR", str(clean_env / "hubdata"))
    assert load_settings().database.url == f"sqlite:///{clean_env / 'hubdata' / 'corehub.db'}"


def test_default_broker_is_in_memory(clean_env: Path) -> None:
    assert load_settings().broker.url.startswith("memory://")


def test_default_broker_counts_as_embedded(clean_env: Path) -> None:
    assert load_settings().embedded_broker is True


# -- environment ------------------------------------------------------------------------------


def test_env_sets_nested_database_url(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREHUB_DATABASE__URL", "postgresql://app@db:5432/hub")
    assert load_settings().database.url == "postgresql://app@db:5432/hub"


def test_env_sets_module_paths_from_a_json_list(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COREHUB_MODULES__PATHS", '["/opt/mods", "/srv/more"]')
    assert load_settings().modules.paths == [Path("/opt/mods"), Path("/srv/more")]


def test_env_sets_api_port_as_an_integer(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREHUB_API__PORT", "9123")
    assert load_settings().api.port == 9123


# -- priority: env > ./corehub.yaml > ~/.corehub/config.yaml > defaults -----------------------


def test_user_config_file_is_read(clean_env: Path) -> None:
    _write(_user_config(), "api:\n  port: 7001\n")
    assert load_settings().api.port == 7001


def test_local_config_file_beats_user_config_file(clean_env: Path) -> None:
    _write(_user_config(), "api:\n  port: 7001\n")
    _write(clean_env / "corehub.yaml", "api:\n  port: 7002\n")
    assert load_settings().api.port == 7002


def test_env_beats_local_config_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(_user_config(), "api:\n  port: 7001\n")
    _write(clean_env / "corehub.yaml", "api:\n  port: 7002\n")
    monkeypatch.setenv("COREHUB_API__PORT", "7003")
    assert load_settings().api.port == 7003


def test_files_merge_keys_they_do_not_both_set(clean_env: Path) -> None:
    _write(_user_config(), "api:\n  host: 0.0.0.0\n")
    _write(clean_env / "corehub.yaml", "api:\n  port: 7002\n")
    api = load_settings().api
    assert (api.host, api.port) == ("0.0.0.0", 7002)


# -- errors -----------------------------------------------------------------------------------


def test_two_bad_values_give_two_problems(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREHUB_API__PORT", "abc")
    monkeypatch.setenv("COREHUB_DATABASE__POOL_SIZE", "0")
    assert len(_problems()) == 2


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("COREHUB_API__PORT", "abc", "api.port"),
        ("COREHUB_API__PORT", "70000", "api.port"),
        ("COREHUB_DATABASE__POOL_SIZE", "0", "database.pool_size"),
        ("COREHUB_WORKER__POOL", "gevent", "worker.pool"),
        ("COREHUB_LOGGING__LEVEL", "LOUD", "logging.level"),
        pytest.param(
            "COREHUB_MODULES__PATHS",
            "not json",
            "modules.paths",
        ),
        pytest.param(
            "COREHUB_WORKER__QUEUES",
            "celery,high",
            "worker.queues",
        ),
    ],
)
def test_a_bad_value_names_its_key_and_env_var(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str
) -> None:
    monkeypatch.setenv(env, value)
    problems = _problems()
    assert len(problems) == 1 and key in problems[0] and env in problems[0], problems


def test_problems_are_single_lines(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREHUB_API__PORT", "abc")
    monkeypatch.setenv("COREHUB_SCHEDULER__TICK_SECONDS", "-1")
    assert all("\n" not in line for line in _problems())


def test_bad_value_in_a_config_file_names_its_key(clean_env: Path) -> None:
    _write(clean_env / "corehub.yaml", "api:\n  port: abc\n")
    assert any("api.port" in line for line in _problems())


def test_unknown_key_in_a_config_file_is_a_problem(clean_env: Path) -> None:
    _write(clean_env / "corehub.yaml", "apii:\n  port: 1\n")
    assert any(line.startswith("apii") for line in _problems())


@pytest.mark.parametrize("where", ["local", "user"])
def test_invalid_yaml_gives_one_problem_line(clean_env: Path, where: str) -> None:
    path = clean_env / "corehub.yaml" if where == "local" else _user_config()
    _write(path, "api:\n  port: [1\n")
    problems = _problems()
    assert len(problems) == 1 and "YAML" in problems[0], problems


# -- the effective view -------------------------------------------------------------------------


def test_flatten_masks_the_password_of_a_postgres_url(clean_env: Path) -> None:
    settings = Settings(
        database=DatabaseSettings(url="postgresql://app:s3cret@db.example:5432/hub")
    )
    assert flatten(settings)["database.url"] == "postgresql://app:***@db.example:5432/hub"


def test_flatten_masks_a_broker_password_without_user(clean_env: Path) -> None:
    settings = Settings(broker=BrokerSettings(url="redis://:hunter2@cache:6379/0"))
    assert flatten(settings)["broker.url"] == "redis://:***@cache:6379/0"


def test_flatten_keeps_an_ipv6_host_a_valid_url(clean_env: Path) -> None:
    settings = Settings(database=DatabaseSettings(url="postgresql://app:s3cret@[::1]:5432/hub"))
    assert flatten(settings)["database.url"] == "postgresql://app:***@[::1]:5432/hub"


@pytest.mark.parametrize(
    "url",
    ["postgresql://app@db.example:5432/hub", "sqlite:////var/lib/corehub/corehub.db"],
)
def test_flatten_leaves_urls_without_password_alone(clean_env: Path, url: str) -> None:
    assert flatten(Settings(database=DatabaseSettings(url=url)))["database.url"] == url


def test_flatten_leaves_plain_values_alone(clean_env: Path) -> None:
    assert flatten(Settings(api=ApiSettings(port=9001)))["api.port"] == 9001


# -- the reference table ------------------------------------------------------------------------


def _table_keys() -> set[str]:
    body = markdown_table().splitlines()[2:]
    return {line.split("`")[1] for line in body}


def test_reference_table_has_a_row_for_every_leaf_setting(clean_env: Path) -> None:
    assert _table_keys() == set(flatten(Settings()))


def test_reference_table_rows_have_four_cells() -> None:
    rows = markdown_table().splitlines()
    assert all(row.count(" | ") == 3 for row in rows if not row.startswith("|---")), rows
