"""Run every chaos scenario at full scale and print the table.

    .venv/bin/python -m tests.chaos.run [--tasks 200] [--only NAME ...]

Starts its own PostgreSQL, Redis and RabbitMQ (installed with apt-get when missing), like
the tests. Exits 1 if any scenario lost work, did something twice or broke the state table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.chaos.checker import Report, markdown
from tests.chaos.scenarios import SCENARIOS, ChaosEnv
from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer, ensure_packages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="tasks per scenario")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run")
    args = parser.parse_args()
    ensure_packages()
    root = Path(tempfile.mkdtemp(prefix="corehub-chaos-", dir="/tmp"))
    root.chmod(0o755)
    rabbit: list[RabbitMQServer] = []

    def rabbitmq() -> RabbitMQServer:
        if not rabbit:
            rabbit.append(RabbitMQServer(root / "rabbitmq"))
            rabbit[0].start()
        return rabbit[0]

    reports: list[Report] = []
    with (
        PostgresServer(root / "postgres", durable=True) as pg,
        RedisServer(root / "redis") as redis,
    ):
        env = ChaosEnv(root, pg, redis, rabbitmq)
        try:
            for name in args.only or list(SCENARIOS):
                print(f"running {name} ...", file=sys.stderr, flush=True)
                reports.append(SCENARIOS[name](env, args.tasks))
                env.close()
        finally:
            for server in rabbit:
                server.stop()
    print(markdown(reports))
    for report in reports:
        for problem in report.problems:
            print(f"{report.scenario}: {problem[:2000]}", file=sys.stderr)
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
