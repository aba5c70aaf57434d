"""Options every command that reaches a hub shares."""

from __future__ import annotations

from typing import Annotated

import typer

UrlOpt = Annotated[
    str | None, typer.Option("--url", envvar="COREHUB_URL", help="act on a hub through its API")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
