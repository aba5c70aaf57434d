"""Load generator: N concurrent clients submitting `core.noop`, run as its own process.

One `httpx.AsyncClient` per simulated user (keep-alive, one connection each), all in one
event loop; the users share a budget of `--requests` requests. Each user warms up (its
connection and the hub's code paths) before the clock starts. Prints one JSON object:

    {"requests", "seconds", "per_s", "tasks_per_s", "p50_ms", "p99_ms", "errors", ...}

    python -m bench.loadgen --url URL --clients 10 --requests 2000 --path run
    python -m bench.loadgen --url URL --clients 1 --requests 50 --path bulk --bulk-size 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx

from bench.stats import percentile

WARMUP = 3  # requests per client before the clock starts
# `ping` (GET /ping, no database, no broker) is the HTTP stack's own floor beside the submits.
ENDPOINTS = {"run": "/tasks/run", "bulk": "/tasks/bulk", "ping": "/ping"}


def body(path: str, bulk_size: int) -> dict[str, Any]:
    task = {"task_name": "core.noop"}
    return {"tasks": [task] * bulk_size} if path == "bulk" else task


async def run(
    url: str, *, clients: int, requests: int, path: str, bulk_size: int
) -> dict[str, Any]:
    endpoint = ENDPOINTS[path]
    method = "GET" if path == "ping" else "POST"
    payload = None if path == "ping" else json.dumps(body(path, bulk_size)).encode()
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    budget = requests
    start = asyncio.Event()
    ready = 0

    def failed(what: str) -> None:
        errors[what] = errors.get(what, 0) + 1

    async def user() -> None:
        nonlocal budget, ready
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            for _ in range(WARMUP):
                await_ = http.request(method, endpoint, content=payload, headers=headers)
                (await await_).raise_for_status()
            ready += 1
            if ready == clients:
                start.set()
            await start.wait()
            while budget > 0:
                budget -= 1
                began = time.perf_counter()
                try:
                    response = await http.request(
                        method, endpoint, content=payload, headers=headers
                    )
                except httpx.HTTPError as exc:
                    failed(type(exc).__name__)
                    continue
                latencies.append(time.perf_counter() - began)
                if not 200 <= response.status_code < 300:
                    failed(str(response.status_code))

    tasks = [asyncio.create_task(user()) for _ in range(clients)]
    await start.wait()
    began = time.perf_counter()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - began
    per_s = requests / seconds
    return {
        "path": endpoint,
        "clients": clients,
        "bulk_size": bulk_size if path == "bulk" else 1,
        "requests": requests,
        "seconds": round(seconds, 3),
        "per_s": round(per_s, 1),
        "tasks_per_s": round(per_s * (bulk_size if path == "bulk" else 1), 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="the hub's base URL")
    parser.add_argument("--clients", type=int, default=1, help="concurrent users")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests in all")
    parser.add_argument("--path", choices=sorted(ENDPOINTS), default="run")
    parser.add_argument("--bulk-size", type=int, default=200, help="tasks per bulk request")
    args = parser.parse_args()
    if args.clients < 1 or args.requests < 1:
        parser.error("--clients and --requests must be at least 1")
    result = asyncio.run(
        run(
            args.url,
            clients=args.clients,
            requests=args.requests,
            path=args.path,
            bulk_size=args.bulk_size,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
