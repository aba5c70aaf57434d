"""Submit path and round trip, then the hub's footprint.

Submit: `POST /tasks/run` and `POST /tasks/bulk` under 1, 10 and 50 concurrent clients, and
`GET /ping` under the most clients (the HTTP stack's own floor: no database, no broker),
each driven by a separate load-generator process (`bench.loadgen`); requests/s and
p50/p99 latency. The hub finishes the backlog before the next measurement starts.
In split mode the bulk and the 50-client single submits are measured once more with no
worker running (its process stopped, then started again to drain the backlog): the intake
alone, without the worker's tasks on the same 2 cores.
Round trip: sequential `core.noop` submits, each polled (every 2 ms) until `success` is
visible through `GET /tasks/{id}`; p50/p99 of visible - submitted, seen by the client.
Footprint (hubs started here only): see `bench.footprint`.

    python -m bench.submit                          # `corehub up` in a temporary directory
    python -m bench.submit --mode postgres+redis    # api + scheduler + worker, real servers
    python -m bench.submit --url URL                # a running hub (no footprint)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from tests.integration.hubs import Hub

from bench import footprint
from bench.hubs import drain, started_hub
from bench.stats import markdown, percentile, save
from corehub.client import Client
from corehub.schemas import TERMINAL_STATUSES

ROOT = Path(__file__).resolve().parents[1]
NO_WORKER = ", no worker running"
COLUMNS = ["section", "mode", "measure", "value", "unit", "p50_ms", "p99_ms", "errors"]


def loadgen(
    url: str, *, clients: int, requests: int, path: str, bulk_size: int, rate: float | None = None
) -> dict[str, Any]:
    """Run `bench.loadgen` as its own process; its JSON result."""
    argv = [sys.executable, "-m", "bench.loadgen", "--url", url, "--clients", str(clients)]
    argv += ["--requests", str(requests), "--path", path, "--bulk-size", str(bulk_size)]
    if rate is not None:
        argv += ["--rate", str(rate)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["errors"]:
        print(f"loadgen: {result['errors']} errors {result['error_kinds']}", file=sys.stderr)
    return result


def round_trip_samples(client: Client, count: int, *, poll: float = 0.002) -> list[float]:
    """Seconds from just before each submit to the response that shows it `success`."""
    samples: list[float] = []
    for n in range(count + 3):  # the first 3 warm up
        began = time.perf_counter()
        view = client.run("core.noop")
        while view.status not in TERMINAL_STATUSES:
            time.sleep(poll)
            view = client.get(view.task_id)
        seen = time.perf_counter()
        if view.status != "success":
            raise RuntimeError(f"task {view.task_id} ended {view.status}: {view.error}")
        if n >= 3:
            samples.append(seen - began)
    return samples


@contextmanager
def workers_stopped(hub: Hub) -> Iterator[None]:
    """No worker consumes inside: what is submitted stays queued until they start again."""
    workers = [p for p in hub.processes if p.name.startswith("worker")]
    for worker in workers:
        worker.stop()
    try:
        yield
    finally:
        for worker in workers:
            worker.start()


def _row(section: str, mode: str, measure: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "section": section,
        "mode": mode,
        "measure": measure,
        "value": value,
        "unit": unit,
        "baseline": None,
        "ratio": None,
    }


def _requests_row(mode: str, label: str, got: dict[str, Any]) -> dict[str, Any]:
    return {
        **_row("submit", mode, label, got["per_s"], "req/s"),
        "p50_ms": got["p50_ms"],
        "p99_ms": got["p99_ms"],
        "errors": got["errors"],
        "requests": got["requests"],
    }


def measure(
    url: str,
    *,
    requests: int = 2000,
    clients: Sequence[int] = (1, 10, 50),
    round_trips: int = 500,
    bulk_batches: int = 50,
    bulk_size: int = 200,
    rate: float | None = 500.0,
    mode: str = "embedded",
    no_workers: Callable[[], AbstractContextManager[None]] | None = None,
) -> list[dict[str, Any]]:
    """Submit throughput and latency per client count (closed loop: the hub saturated), the
    most clients at a fixed offered `rate` (open loop: latency under load below capacity),
    bulk, then sequential round trips. With `no_workers`, the bulk and the most clients'
    single submits once more inside it."""
    rows: list[dict[str, Any]] = []
    with Client(url, timeout=60) as client:
        drain(client)
        for n in clients:
            got = loadgen(url, clients=n, requests=requests, path="run", bulk_size=1)
            rows.append(
                _requests_row(mode, f"POST /tasks/run, {n} client{'s' if n != 1 else ''}", got)
            )
            drain(client)
        if clients and rate:
            n = max(clients)
            got = loadgen(url, clients=n, requests=requests, path="run", bulk_size=1, rate=rate)
            label = f"POST /tasks/run, {n} clients offering {rate:g} req/s (open loop)"
            rows.append(_requests_row(mode, label, got))
            drain(client)
        if clients:
            n = max(clients)
            got = loadgen(url, clients=n, requests=requests, path="ping", bulk_size=1)
            rows.append(_requests_row(mode, f"GET /ping, {n} clients (the HTTP stack alone)", got))
        if bulk_batches:
            rows += _bulk_rows(url, client, mode, clients, bulk_batches, bulk_size)
        if no_workers is not None and clients:
            n = max(clients)
            with no_workers():
                got = loadgen(url, clients=n, requests=requests, path="run", bulk_size=1)
                rows.append(_requests_row(mode, f"POST /tasks/run, {n} clients{NO_WORKER}", got))
                if bulk_batches:
                    rows += _bulk_rows(
                        url, None, mode, clients, bulk_batches, bulk_size, suffix=NO_WORKER
                    )
            drain(client)
        if round_trips:
            samples = round_trip_samples(client, round_trips)
            p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
            label = f"submit -> success visible, {round_trips} sequential core.noop"
            rows.append(
                {
                    **_row("round trip", mode, label, round(p50, 2), "ms (p50)"),
                    "p50_ms": round(p50, 2),
                    "p99_ms": round(p99, 2),
                    "errors": 0,
                }
            )
    return rows


def _bulk_rows(
    url: str,
    client: Client | None,
    mode: str,
    clients: Sequence[int],
    batches: int,
    size: int,
    *,
    suffix: str = "",
) -> list[dict[str, Any]]:
    """`POST /tasks/bulk` per client count: requests/s and tasks/s. With a `client`, the
    hub finishes the backlog after each."""
    rows: list[dict[str, Any]] = []
    for n in clients or (1,):
        # Every client sends at least two requests, so none measures its start alone.
        requests = max(batches, 2 * n)
        got = loadgen(url, clients=n, requests=requests, path="bulk", bulk_size=size)
        label = f"POST /tasks/bulk, {requests} x {size} tasks, {n} client{'s' if n != 1 else ''}"
        latency = {"p50_ms": got["p50_ms"], "p99_ms": got["p99_ms"], "errors": got["errors"]}
        rows.append({**_row("submit", mode, f"{label}{suffix}", got["per_s"], "req/s"), **latency})
        rows.append(
            {
                **_row("submit", mode, f"{label}{suffix}: tasks in", got["tasks_per_s"], "tasks/s"),
                **latency,
            }
        )
        if client is not None:
            drain(client)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running hub (no footprint then)")
    parser.add_argument("--mode", choices=["embedded", "postgres+redis"], default="embedded")
    parser.add_argument("--requests", type=int, default=2000, help="POST /tasks/run per run")
    parser.add_argument("--clients", default="1,10,50", help="concurrent clients, comma-separated")
    parser.add_argument("--bulk-batches", type=int, default=50, help="bulk requests")
    parser.add_argument("--bulk-size", type=int, default=200, help="tasks per bulk request")
    parser.add_argument("--round-trips", type=int, default=500, help="sequential round trips")
    parser.add_argument(
        "--rate",
        type=float,
        default=500.0,
        help="req/s the most clients offer in the open-loop run (0: none)",
    )
    parser.add_argument(
        "--api-workers", type=int, default=1, help="postgres+redis: `corehub api --workers`"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    sizes = {
        "requests": args.requests,
        "clients": [int(c) for c in args.clients.split(",") if c.strip()],
        "round_trips": args.round_trips,
        "bulk_batches": args.bulk_batches,
        "bulk_size": args.bulk_size,
        "rate": args.rate,
    }
    if args.url:
        mode = "given hub"
        rows = measure(args.url, mode=mode, **sizes)
    else:
        mode = args.mode
        with started_hub(mode, keep=args.keep, api_workers=args.api_workers) as (hub, db_url):
            stop = (lambda: workers_stopped(hub)) if mode != "embedded" else None
            rows = measure(hub.url, mode=mode, no_workers=stop, **sizes)
            rows += footprint.measure(hub, db_url, mode)
    print(markdown(rows, COLUMNS))
    print(f"results: {save('submit', {'url': args.url or mode, 'sizes': sizes, 'rows': rows})}")


if __name__ == "__main__":
    main()
