"""Echo bot: returns what it is given, the smallest task there is."""

from __future__ import annotations

from typing import Any

__version__ = "1.0.0"


def echo(text: str = "") -> dict[str, str]:
    """Return the text it was given."""
    return {"echo": text}


def register_tasks(registry: Any) -> None:
    registry.register_task("echo_bot", "echo", echo)


def heartbeat() -> dict[str, Any]:
    return {"status": "ok"}
