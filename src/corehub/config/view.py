"""Effective configuration as people and scripts read it: flattened, secrets masked."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from corehub.config.settings import Settings

SECRET_WORDS = ("password", "secret", "token", "key")


def mask_url(url: str) -> str:
    """Hide the password of a URL, keep everything else readable."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]  # keeps IPv6 brackets and the port as written
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def flatten(settings: Settings) -> dict[str, Any]:
    """Dotted keys (`database.url`) to JSON-friendly values, secrets masked."""
    out: dict[str, Any] = {}
    _walk(settings, "", out)
    return out


def _walk(model: BaseModel, prefix: str, out: dict[str, Any]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            _walk(value, key + ".", out)
        elif (
            value
            and isinstance(value, dict)
            and all(isinstance(v, BaseModel) for v in value.values())
        ):
            for item, section in value.items():  # named sections (events.sources.<name>.…)
                _walk(section, f"{key}.{item}.", out)
        else:
            out[key] = _masked(name, value)


def _masked(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr) or (any(word in name for word in SECRET_WORDS) and value):
        return "***"
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, list):
        return [v.model_dump(mode="json") if isinstance(v, BaseModel) else str(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
