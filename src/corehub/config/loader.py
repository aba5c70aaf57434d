"""Build settings or fail with one clear line per problem."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from corehub.config.settings import LOCAL_CONFIG, USER_CONFIG, Settings
from corehub.errors import ConfigError


def load_settings(**overrides: Any) -> Settings:
    """Read every source; raise `ConfigError` listing each invalid key on its own line."""
    problems = [p for path in (LOCAL_CONFIG, USER_CONFIG.expanduser()) if (p := _check_file(path))]
    if problems:
        raise ConfigError(problems)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError([_problem(err) for err in exc.errors()]) from None
    except SettingsError as exc:
        raise ConfigError(_source_problems(exc)) from None


def _check_file(path: Path) -> str | None:
    """A config file must be YAML whose top level maps keys to values."""
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        return f"{path}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}"
    except OSError as exc:
        return f"{path}: cannot be read: {exc.strerror}"
    if data is not None and not isinstance(data, dict):
        return f"{path}: the top level must map keys to values, not a {type(data).__name__}"
    return None


def _problem(err: Any) -> str:
    key = ".".join(str(part) for part in err["loc"]) or "(root)"
    env = "COREHUB_" + "__".join(str(part) for part in err["loc"]).upper()
    got = err.get("input")
    shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    return f"{key} [{env}]: {err['msg']}{shown}"


def _source_problems(exc: SettingsError) -> list[str]:
    """pydantic-settings could not parse an environment value: find which list was not JSON."""
    from corehub.config.reference import rows

    problems = []
    for key, env, default, _meaning in rows():
        raw = os.environ.get(env)
        if raw is None or not default.startswith(("[", "{")):
            continue
        try:
            json.loads(raw)
        except ValueError:
            problems.append(
                f'{key} [{env}]: not a JSON list (got {raw!r}); write e.g. {env}=\'["a", "b"]\''
            )
    return problems or [f"config: {exc}"]
