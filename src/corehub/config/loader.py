"""Build settings or fail with one clear line per problem."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from corehub.config.settings import Settings
from corehub.errors import ConfigError


def load_settings(**overrides: Any) -> Settings:
    """Read every source; raise `ConfigError` listing each invalid key on its own line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError([_problem(err) for err in exc.errors()]) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(
            [f"config file is not valid YAML{at}: {exc.__class__.__name__}"]
        ) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"config: {exc}"]) from None


def _problem(err: Any) -> str:
    key = ".".join(str(part) for part in err["loc"]) or "(root)"
    env = "COREHUB_" + "__".join(str(part) for part in err["loc"]).upper()
    got = err.get("input")
    shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    return f"{key} [{env}]: {err['msg']}{shown}"
