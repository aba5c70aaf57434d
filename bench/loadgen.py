"""Load generator: N concurrent clients submitting `core.noop`, run as its own process.

One keep-alive HTTP/1.1 connection per simulated user, all in one event loop; the users
share a budget of `--requests` requests. Each user warms up (its connection and the hub's
code paths) before the clock starts.

Closed loop by default: each user sends its next request as soon as the last is answered,
so the hub runs saturated and latency is what 50 waiting users see at its capacity (by
Little's law, clients / throughput). `--rate R` makes it an open loop: request k is due at
k/R seconds, whichever user is free sends it, and its latency counts from when it was due,
so a hub that falls behind is charged for the wait (no coordinated omission).
Prints one JSON object:

    {"requests", "seconds", "per_s", "tasks_per_s", "p50_ms", "p99_ms", "errors", ...}

    python -m bench.loadgen --url URL --clients 10 --requests 2000 --path run
    python -m bench.loadgen --url URL --clients 1 --requests 50 --path bulk --bulk-size 200
    python -m bench.loadgen --url URL --clients 50 --requests 5000 --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import uvloop

from bench.stats import percentile

WARMUP = 3  # requests per client before the clock starts
# `ping` (GET /ping, no database, no broker) is the HTTP stack's own floor beside the submits.
ENDPOINTS = {"run": "/tasks/run", "bulk": "/tasks/bulk", "ping": "/ping"}


def body(path: str, bulk_size: int) -> dict[str, Any]:
    task = {"task_name": "core.noop"}
    return {"tasks": [task] * bulk_size} if path == "bulk" else task


class Connection:
    """One keep-alive HTTP/1.1 connection that speaks just enough of the protocol for the
    hub's answers. A full client (httpx) spent about 1.6 ms of CPU per request here, twice
    the hub's own cost for `GET /ping`: the load generator measured itself, not the hub."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def request_bytes(self, method: str, path: str, body: bytes | None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + (body or b"")

    async def send(self, raw: bytes) -> int:
        """Send one request; its status once the whole response is read."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        else:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


class Pace:
    """When the next request starts, for its latency: now (closed loop), or at its due time
    k/rate after the start, waiting for it if early (open loop)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.t0 = 0.0
        self.issued = 0

    async def next_start(self) -> float:
        now = time.perf_counter()
        if self.rate is None:
            return now
        due = self.t0 + self.issued / self.rate
        self.issued += 1
        if due > now:
            await asyncio.sleep(due - now)
        return due


async def run(
    url: str, *, clients: int, requests: int, path: str, bulk_size: int, rate: float | None = None
) -> dict[str, Any]:
    endpoint = ENDPOINTS[path]
    method = "GET" if path == "ping" else "POST"
    payload = None if path == "ping" else json.dumps(body(path, bulk_size)).encode()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    budget = requests
    start = asyncio.Event()
    ready = 0
    pace = Pace(rate)

    def failed(what: str) -> None:
        errors[what] = errors.get(what, 0) + 1

    async def user() -> None:
        nonlocal budget, ready
        connection = Connection(url)
        raw = connection.request_bytes(method, endpoint, payload)
        try:
            for _ in range(WARMUP):
                status = await connection.send(raw)
                if not 200 <= status < 300:
                    raise RuntimeError(f"warm-up {method} {endpoint} answered {status}")
            ready += 1
            if ready == clients:
                start.set()
            await start.wait()
            while budget > 0:
                budget -= 1
                began = await pace.next_start()
                try:
                    status = await connection.send(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    failed(type(exc).__name__)
                    await connection.close()
                    continue
                latencies.append(time.perf_counter() - began)
                if not 200 <= status < 300:
                    failed(str(status))
        finally:
            await connection.close()

    tasks = [asyncio.create_task(user()) for _ in range(clients)]
    await start.wait()
    began = pace.t0 = time.perf_counter()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - began
    per_s = requests / seconds
    return {
        "path": endpoint,
        "clients": clients,
        "bulk_size": bulk_size if path == "bulk" else 1,
        "requests": requests,
        "rate": rate,
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
    parser.add_argument(
        "--rate", type=float, help="open loop: requests offered per second, all users together"
    )
    args = parser.parse_args()
    if args.clients < 1 or args.requests < 1:
        parser.error("--clients and --requests must be at least 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    result = uvloop.run(
        run(
            args.url,
            clients=args.clients,
            requests=args.requests,
            path=args.path,
            bulk_size=args.bulk_size,
            rate=args.rate,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
