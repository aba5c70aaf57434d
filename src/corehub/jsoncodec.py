"""The single JSON codec: orjson everywhere (API bodies, task payloads, results, events)."""

from __future__ import annotations

import math
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def dumps(value: Any) -> bytes:
    """Encode strictly: raises `TypeError` for anything JSON or the database cannot hold
    (non-JSON types, NaN and infinities, text containing NUL)."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(str(exc)) from exc
    if b"null" in encoded and _has_non_finite(value):  # orjson writes NaN as null
        raise TypeError("NaN and Infinity are not JSON")
    if b"\\u0000" in encoded:
        raise TypeError("text contains a NUL character (\\u0000), which cannot be stored")
    return encoded


def dumps_accepted(value: Any) -> bytes:
    """Encode what holds only values `dumps` has accepted before (a stored task's arguments
    in a message): its checks walk the whole value whenever the JSON contains a null."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_non_finite(v) for v in value)
    return False


def canonical(value: Any) -> bytes:
    """The same bytes for equal values (sorted keys): for hashing what a request means."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
