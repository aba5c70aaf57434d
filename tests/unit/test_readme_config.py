"""The README's configuration table is the one the settings model generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from corehub.config.reference import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"
START = "<!-- config-table:start -->"
END = "<!-- config-table:end -->"


def _readme_table() -> str:
    if not README.is_file():
        pytest.fail(f"{README} is missing")
    lines = README.read_text(encoding="utf-8").splitlines()
    if lines.count(START) != 1 or lines.count(END) != 1:
        pytest.fail(f"{README} needs exactly one {START!r} line and one {END!r} line")
    begin, end = lines.index(START), lines.index(END)
    if end < begin:
        pytest.fail(f"{END!r} comes before {START!r} in {README}")
    return "\n".join(lines[begin + 1 : end]).strip("\n")


def test_readme_config_table_is_the_generated_one() -> None:
    assert _readme_table() == markdown_table(), (
        "regenerate it with: python -m corehub.config.reference"
    )
