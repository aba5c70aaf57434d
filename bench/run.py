"""The whole benchmark suite in one run: one markdown table, JSON and a PNG under
bench/results/ (ignored by git). Numbers are printed, never asserted.

    python -m bench.run                 # the full sizes of the issue
    python -m bench.run --scale 0.01    # a quick look (CI's smoke test runs 0.001)
    python -m bench.run --repeat 3      # throughput as the median of three runs each (27 min here)

Sections: end-to-end throughput beside raw Celery on the same broker, pool and concurrency
(bench.throughput); submit path (single and bulk) under 1/10/50 clients and round trip
(bench.submit); pipeline step handoff and schedule lateness (bench.flow); peak RSS and bytes
and rows per finished task (bench.footprint).
"""

from __future__ import annotations

import argparse
import platform
from typing import Any

from bench import flow, footprint, submit, throughput
from bench.chart import draw
from bench.hubs import started_hub
from bench.stats import RESULTS, markdown, save, summary_ms
from corehub.client import Client

COLUMNS = ["section", "mode", "measure", "value", "unit", "baseline", "ratio", "p50_ms", "p99_ms"]
HUB_MODES = ("embedded", "postgres+redis")


def _flow_rows(url: str, mode: str, scale: float) -> list[dict[str, Any]]:
    runs, scheduled = max(1, round(20 * scale)), max(5, round(1000 * scale))
    with Client(url, timeout=60) as client:
        handoff = summary_ms(flow.handoffs(client, runs, 10))
        late = summary_ms(flow.lateness(client, scheduled, 2.0, max(1.0, 10.0 * scale)))
    return [
        {
            "section": "pipelines",
            "mode": mode,
            "measure": f"step handoff, 10-step chain x {runs}",
            "value": handoff["p50_ms"],
            "unit": "ms (p50)",
            **handoff,
        },
        {
            "section": "schedules",
            "mode": mode,
            "measure": f"lateness of {scheduled} tasks due over {max(1.0, 10.0 * scale):g} s",
            "value": late["p50_ms"],
            "unit": "ms (p50)",
            **late,
        },
    ]


def run(scale: float, modes: tuple[str, ...], repeat: int = 1) -> list[dict[str, Any]]:
    rows = throughput.measure(
        noop=max(20, round(20_000 * scale)),
        sleepy=max(10, round(5_000 * scale)),
        modes=modes,
        repeat=repeat,
    )
    for mode in HUB_MODES:
        if mode not in modes:
            continue
        with started_hub(mode) as (hub, db_url):
            rows += submit.measure(
                hub.url,
                requests=max(20, round(2000 * scale)),
                round_trips=max(5, round(500 * scale)),
                bulk_batches=max(2, round(50 * scale)),
                bulk_size=max(2, round(200 * scale)),
                mode=mode,
                no_workers=(lambda: submit.workers_stopped(hub)) if mode != "embedded" else None,
            )
            rows += _flow_rows(hub.url, mode, scale)
            rows += footprint.measure(hub, db_url, mode, idle_seconds=max(1.0, 10.0 * scale))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument(
        "--modes", default=",".join(throughput.MODES), help="comma-separated modes to run"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="throughput runs per workload, its rows holding the medians; each one more adds "
        "the throughput section's time again (about 5 minutes here)",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    modes = tuple(m for m in args.modes.split(",") if m)
    rows = run(args.scale, modes, args.repeat)
    for row in rows:
        if row.get("ratio") is not None:
            row["ratio"] = round(row["ratio"], 2)
    print(markdown(rows, COLUMNS))
    params = {"scale": args.scale, "repeat": args.repeat, "platform": platform.platform()}
    path = save("suite", {**params, "rows": rows})
    chart = draw(rows, RESULTS / path.name.replace(".json", ".png"))
    print(f"results: {path}\nchart: {chart}")


if __name__ == "__main__":
    main()
