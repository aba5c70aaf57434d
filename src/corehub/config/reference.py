"""The configuration table of the README, generated from the settings model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from corehub.config.settings import Settings


def rows(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(yaml key, env name, default, description) for every leaf setting."""
    out: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            out += rows(nested, key + ".")
            continue
        env = "COREHUB_" + key.replace(".", "__").upper()
        out.append((key, env, _default(field), field.description or ""))
    return out


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, list) and any(isinstance(v, BaseModel) for v in value):
        return json.dumps([v.model_dump(exclude_defaults=True) for v in value])
    if value == "" and field.description and "empty means" in field.description:
        return "(SQLite in data_dir)"
    return str(value).replace("|", "\\|")


def markdown_table() -> str:
    lines = ["| key (`corehub.yaml`) | environment | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | `{e}` | `{d}` | {m} |" for k, e, d, m in rows()]
    return "\n".join(lines)


START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def update_readme(path: Path) -> None:
    """Rewrite the table between the README's markers (`python -m corehub.config.reference
    README.md`); a test fails when the two drift."""
    text = path.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}\n{markdown_table()}\n{END}{tail}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        update_readme(Path(sys.argv[1]))
    else:
        print(markdown_table())
