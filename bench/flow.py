"""Pipeline step handoff and schedule lateness, measured from the hub's own record.

Handoff: in a chain of `--steps` steps, the time from a step's finish to its child's start
(both as the database recorded them). Lateness: tasks submitted with a `run_at` spread over
`--spread` seconds starting `--ahead` seconds out; how long after its `run_at` each started.

    python -m bench.flow                 # starts `corehub up` in a temporary directory
    python -m bench.flow --url URL       # measures a running hub
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.hubs import started_hub
from bench.stats import markdown, save, summary_ms
from corehub.client import Client
from corehub.schemas import RunTaskRequest


def chain(name: str, steps: int) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {"name": f"s{i}", "task": "core.collect", **({"after": [f"s{i - 1}"]} if i else {})}
            for i in range(steps)
        ],
    }


def handoffs(client: Client, runs: int, steps: int) -> list[float]:
    """Seconds from each step's finish to its child's start, over `runs` sequential runs."""
    name = f"bench-chain-{uuid.uuid4().hex[:6]}"
    client.define_pipeline(chain(name, steps))
    samples: list[float] = []
    for _ in range(runs):
        run = client.run_pipeline(name)
        done = client.wait_pipeline_run(run.run_id, timeout=120, poll=0.05)
        if done.status != "completed":
            raise RuntimeError(f"run {done.run_id} ended {done.status}: {done.error}")
        for parent, child in zip(done.steps, done.steps[1:], strict=False):
            assert parent.finished_at is not None and child.started_at is not None
            samples.append((child.started_at - parent.finished_at).total_seconds())
    return samples


def lateness(client: Client, count: int, ahead: float, spread: float) -> list[float]:
    """Seconds each task started after its `run_at`."""
    start = datetime.now(UTC) + timedelta(seconds=ahead)
    due = [start + timedelta(seconds=spread * i / max(count - 1, 1)) for i in range(count)]
    ids: list[str] = []
    for offset in range(0, count, 500):
        batch = [
            RunTaskRequest(task_name="core.noop", run_at=at) for at in due[offset : offset + 500]
        ]
        ids += client.run_many(batch)
    time.sleep(max(0.0, (due[-1] - datetime.now(UTC)).total_seconds()))
    samples: list[float] = []
    for task_id, at in zip(ids, due, strict=True):
        view = client.wait(task_id, timeout=60, poll=0.05)
        if view.started_at is None:
            raise RuntimeError(f"task {task_id} ended {view.status} without starting")
        samples.append((view.started_at - at).total_seconds())
    early = [s for s in samples if s < 0]
    if early:
        raise RuntimeError(
            f"{len(early)} tasks started before their run_at (min {min(early):.3f}s)"
        )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running hub (default: start `corehub up`)")
    parser.add_argument("--runs", type=int, default=20, help="chain runs (sequential)")
    parser.add_argument("--steps", type=int, default=10, help="steps per chain")
    parser.add_argument("--scheduled", type=int, default=1000, help="tasks with a run_at")
    parser.add_argument("--ahead", type=float, default=2.0, help="seconds until the first run_at")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds the run_at values span")
    args = parser.parse_args()
    if args.url:
        with Client(args.url, timeout=30) as client:
            steps = handoffs(client, args.runs, args.steps)
            late = lateness(client, args.scheduled, args.ahead, args.spread)
    else:
        with started_hub("embedded") as (hub, _), Client(hub.url, timeout=30) as client:
            steps = handoffs(client, args.runs, args.steps)
            late = lateness(client, args.scheduled, args.ahead, args.spread)
    rows = [
        {"measure": f"step handoff ({args.steps}-step chain x {args.runs})", **summary_ms(steps)},
        {"measure": f"schedule lateness ({args.scheduled} tasks)", **summary_ms(late)},
    ]
    print(markdown(rows, ["measure", "n", "p50_ms", "p95_ms", "p99_ms", "max_ms"]))
    print(f"results: {save('flow', {'url': args.url or 'embedded', 'rows': rows})}")


if __name__ == "__main__":
    main()
