"""Footprint of a hub that has done work: peak memory of its processes, the CPU it takes
doing nothing, and what the database keeps per finished task.

Peak RSS is the kernel's high-water mark (`VmHWM` in /proc/<pid>/status) of each hub
process plus every live descendant (e.g. prefork pool children), summed; read it after
the other benchmarks ran on that hub. Shared copy-on-write pages of forked children count
once per process, so a sum over a pool overstates what the machine gave up.

Idle CPU is the user and system time of the same processes over a few seconds once the hub
has nothing left to run (its scheduler ticking, its workers waiting on the broker), as a
share of one core. What the database and broker servers spend answering them is not in it.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.integration.hubs import Hub

from bench.hubs import drain
from corehub.client import Client
from corehub.schemas import TERMINAL_STATUSES

MIB = 1024 * 1024
# After the last task ends: the batched marks, the acknowledgements and the relay's last look.
SETTLE_SECONDS = 3.0
# Tables that grow with tasks; the first two always count, the others when non-empty.
PER_TASK_TABLES = (
    "tasks",
    "task_events",
    "task_effects",
    "pipeline_runs",
    "pipeline_steps",
    "pipeline_events",
)


def _status_kib(pid: int, field: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return None


def _stat_fields(stat: Path) -> list[str]:
    """The fields of /proc/<pid>/stat after the process's name (which may hold spaces):
    state, ppid, ... utime (11), stime (12)."""
    text = stat.read_text()
    return text[text.rindex(")") + 2 :].split()


def _parents() -> dict[int, list[int]]:
    """Every live pid's children, from /proc/*/stat."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            tree.setdefault(int(_stat_fields(stat)[1]), []).append(int(stat.parent.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree = _parents()
    found: list[int] = []
    pending = list(tree.get(pid, []))
    while pending:
        child = pending.pop()
        found.append(child)
        pending += tree.get(child, [])
    return found


def peak_rss_kib(pid: int) -> tuple[int, int]:
    """(summed VmHWM of pid and its live descendants in KiB, how many processes counted)."""
    total = counted = 0
    for p in [pid, *descendants(pid)]:
        if (kib := _status_kib(p, "VmHWM")) is not None:
            total += kib
            counted += 1
    return total, counted


def cpu_seconds(pid: int) -> float | None:
    """User and system time of one process so far, from /proc/<pid>/stat."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = _stat_fields(Path(f"/proc/{pid}/stat"))
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def idle_cpu_row(hub: Hub, mode: str, seconds: float) -> dict[str, Any]:
    """The hub's processes' CPU over `seconds` with no task left, in % of one core."""
    with Client(hub.url, timeout=60) as client:
        drain(client)
    time.sleep(SETTLE_SECONDS)
    pids = [
        pid
        for process in hub.processes
        if process.proc is not None and process.proc.poll() is None
        for pid in (process.proc.pid, *descendants(process.proc.pid))
    ]
    before = {pid: cpu_seconds(pid) for pid in pids}
    time.sleep(seconds)
    spent, measured = 0.0, 0
    for pid, start in before.items():
        end = cpu_seconds(pid)
        if start is not None and end is not None:
            spent += end - start
            measured += 1
    return {
        "section": "footprint",
        "mode": mode,
        "measure": f"idle CPU over {seconds:g} s (hub processes)",
        "value": round(100 * spent / seconds, 1),
        "unit": "% of a core",
        "baseline": None,
        "ratio": None,
        "note": f"{measured} processes, with no task left; servers not counted",
    }


def _label(name: str) -> str:
    return {"up": "embedded", "worker0": "worker"}.get(name, name)


def memory_rows(hub: Hub, mode: str) -> list[dict[str, Any]]:
    rows = []
    for process in hub.processes:
        if process.proc is None or process.proc.poll() is not None:
            continue
        kib, counted = peak_rss_kib(process.proc.pid)
        rows.append(
            {
                "section": "footprint",
                "mode": mode,
                "measure": f"{_label(process.name)} peak RSS",
                "value": round(kib / 1024, 1),
                "unit": "MiB",
                "baseline": None,
                "ratio": None,
                "note": f"VmHWM summed over {counted} process" + ("es" if counted != 1 else ""),
            }
        )
    return rows


def _sqlite_bytes(url: sa.URL) -> int:
    path = Path(url.database or "")
    return sum(
        p.stat().st_size
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if p.exists()
    )


def _table_bytes(conn: sa.Connection, tables: list[str]) -> int | None:
    """Bytes of the per-task tables with their indexes (and TOAST), or None if unknown."""
    if conn.dialect.name == "postgresql":
        total = 0
        for table in tables:
            size = conn.execute(sa.text("SELECT pg_total_relation_size(:t)"), {"t": table})
            total += int(size.scalar_one())
        return total
    if conn.dialect.name == "sqlite":
        names = ", ".join(f"'{t}'" for t in tables)  # fixed identifiers from PER_TASK_TABLES
        query = (
            "SELECT COALESCE(SUM(d.pgsize), 0) FROM dbstat AS d "
            f"JOIN sqlite_master AS m ON d.name = m.name WHERE m.tbl_name IN ({names})"
        )
        try:
            return int(conn.execute(sa.text(query)).scalar_one())
        except sa.exc.OperationalError:  # SQLite built without the dbstat table
            return None
    return None


def database_rows(db_url: str, mode: str) -> list[dict[str, Any]]:
    url = sa.make_url(db_url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            counts = {
                t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
                for t in PER_TASK_TABLES
                if t in present
            }
            counted = [t for t, n in counts.items() if n or t in ("tasks", "task_events")]
            finished = int(
                conn.execute(
                    sa.text("SELECT COUNT(*) FROM tasks WHERE status IN :s").bindparams(
                        sa.bindparam("s", expanding=True)
                    ),
                    {"s": sorted(TERMINAL_STATUSES)},
                ).scalar_one()
            )
            if url.get_backend_name() == "postgresql":
                size = conn.execute(sa.text("SELECT pg_database_size(current_database())"))
                db_bytes = int(size.scalar_one())
            else:
                db_bytes = _sqlite_bytes(url)
            table_bytes = _table_bytes(conn, counted)
    finally:
        engine.dispose()
    if not finished:
        return []
    base: dict[str, Any] = {"section": "footprint", "mode": mode, "baseline": None, "ratio": None}
    breakdown = ", ".join(f"{t} {counts[t]}" for t in counted)
    rows = [
        {
            **base,
            "measure": "bytes per finished task",
            "value": round(db_bytes / finished),
            "unit": "B",
            "note": f"whole database {db_bytes} B / {finished} finished tasks",
        },
    ]
    if table_bytes is not None:
        rows.append(
            {
                **base,
                "measure": "bytes per finished task (task tables)",
                "value": round(table_bytes / finished),
                "unit": "B",
                "note": f"{', '.join(counted)} with indexes: {table_bytes} B",
            }
        )
    rows.append(
        {
            **base,
            "measure": "rows per finished task",
            "value": round(sum(counts[t] for t in counted) / finished, 2),
            "unit": "rows",
            "note": breakdown,
        }
    )
    return rows


def measure(hub: Hub, db_url: str, mode: str, idle_seconds: float = 10.0) -> list[dict[str, Any]]:
    """Peak RSS of each hub process, its CPU once idle, then database bytes and rows per
    finished task."""
    idle = idle_cpu_row(hub, mode, idle_seconds)
    return [*memory_rows(hub, mode), idle, *database_rows(db_url, mode)]
