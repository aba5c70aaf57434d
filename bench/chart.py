"""One PNG of a run: throughput beside raw Celery, and the latency percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt


def draw(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Left: tasks/s per mode and workload, corehub beside raw Celery. Right: p50/p99 of every
    row that has them (submit path, round trip, handoff, lateness)."""
    throughput = [r for r in rows if r["section"] == "throughput"]
    latency = [r for r in rows if r.get("p50_ms") is not None and r.get("p99_ms") is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6))
    labels = [f"{r['mode']}\n{r['measure']}" for r in throughput]
    xs = range(len(throughput))
    left.bar([x - 0.2 for x in xs], [r["value"] for r in throughput], 0.4, label="corehub")
    left.bar(
        [x + 0.2 for x in xs], [r["baseline"] or 0 for r in throughput], 0.4, label="raw Celery"
    )
    left.set_xticks(list(xs), labels, rotation=45, ha="right", fontsize=7)
    left.set_ylabel("tasks/s")
    left.set_title("end-to-end throughput")
    left.legend()
    names = [f"{r['mode']}: {r['measure']}" for r in latency]
    ys = range(len(latency))
    right.barh([y + 0.2 for y in ys], [r["p50_ms"] for r in latency], 0.4, label="p50")
    right.barh([y - 0.2 for y in ys], [r["p99_ms"] for r in latency], 0.4, label="p99")
    right.set_yticks(list(ys), names, fontsize=7)
    right.set_xscale("log")
    right.set_xlabel("ms (log)")
    right.set_title("latency")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
