"""Output for people (Rich tables) and for scripts (`--json`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from corehub import jsoncodec

out = Console()
err = Console(stderr=True)
STATUS_STYLE = {
    "success": "green",
    "failure": "red",
    "dead": "red",
    "cancelled": "yellow",
    "started": "cyan",
    "queued": "blue",
    "retrying": "magenta",
}


def emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    print(jsoncodec.dumps_str(value))


def status_text(status: str) -> str:
    style = STATUS_STYLE.get(status, "white")
    return f"[{style}]{status}[/{style}]"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for row in rows:
        t.add_row(*(str(v) for v in row))
    out.print(t)
