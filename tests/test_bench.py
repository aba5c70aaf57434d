"""The benchmarks run (tiny sizes), so they never rot. No timing is asserted here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.helpers import run_python


def test_flow_benchmark_runs_and_prints_its_table() -> None:
    result = run_python(
        "-m",
        "bench.flow",
        "--runs=1",
        "--steps=3",
        "--scheduled=5",
        "--ahead=0.5",
        "--spread=0.5",
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| measure |")
    assert any(line.startswith("| step handoff (3-step chain x 1)") for line in lines)
    assert any(line.startswith("| schedule lateness (5 tasks)") for line in lines)


@pytest.mark.servers
def test_the_whole_suite_runs_at_a_tiny_scale_and_writes_its_files() -> None:
    """Every section, every mode, beside raw Celery: a table, JSON and a PNG."""
    result = run_python("-m", "bench.run", "--scale=0.001", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    sections = {line.split("|")[1].strip() for line in lines if line.startswith("| ")}
    assert {"throughput", "submit", "round trip", "pipelines", "schedules", "footprint"} <= sections
    modes = {line.split("|")[2].strip() for line in lines if line.startswith("| throughput")}
    assert modes == {"embedded", "sqlite+redis", "postgres+redis", "postgres+rabbitmq"}
    # Split mode measures the intake once more with its worker stopped, then drains it.
    idle = [line for line in lines if "| idle CPU over" in line]
    assert len(idle) == 2 and all(line.split("|")[5].strip() == "% of a core" for line in idle)
    alone = [line for line in lines if "no worker running" in line]
    assert alone and all("| postgres+redis |" in line for line in alone)
    written = dict(line.split(": ", 1) for line in lines if line.startswith(("results:", "chart:")))
    assert Path(written["results"]).stat().st_size > 0 and Path(written["chart"]).stat().st_size > 0


def test_repeated_throughput_rows_hold_medians_and_the_spread_of_paired_ratios() -> None:
    from bench.throughput import Workload, _row

    work = Workload("noop x100", "core.noop", 100, {})
    # (raw seconds, corehub seconds): raw 100, 50, 200 tasks/s; corehub 50, 50, 50 tasks/s
    row = _row("embedded", work, [(1.0, 2.0), (2.0, 2.0), (0.5, 2.0)])
    assert (row["value"], row["baseline"]) == (50.0, 100.0)
    assert row["ratio"] == 0.5  # the median of 0.5, 1.0 and 0.25: each pair's own ratio
    assert row["ratio_range"] == [0.25, 1.0]
    assert (row["raw_s"], row["corehub_s"]) == ([1.0, 2.0, 0.5], [2.0, 2.0, 2.0])
    assert "ratio_range" not in _row("embedded", work, [(1.0, 2.0)])


def test_settings_given_to_the_throughput_hubs_become_corehub_environment_variables() -> None:
    import argparse

    from bench.throughput import parse_setting, setting_env

    named = dict([parse_setting("database.async_claim_commit=true"), parse_setting("a.b=x=y")])
    assert setting_env(named) == {
        "COREHUB_DATABASE__ASYNC_CLAIM_COMMIT": "true",
        "COREHUB_A__B": "x=y",
    }
    for bad in ("no-equals", "=value"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_setting(bad)


def test_the_open_loop_charges_each_request_from_its_due_time() -> None:
    import asyncio
    import time

    from bench.loadgen import Pace

    async def starts(pace: Pace, n: int) -> list[float]:
        return [await pace.next_start() for _ in range(n)]

    pace = Pace(100.0)
    pace.t0 = time.perf_counter() - 0.5  # running late: the first 50 are already due
    late = asyncio.run(starts(pace, 3))
    assert [round(s - pace.t0, 3) for s in late] == [0.0, 0.01, 0.02]
    pace = Pace(50.0)
    pace.t0 = time.perf_counter()
    began = time.perf_counter()
    on_time = asyncio.run(starts(pace, 4))
    assert time.perf_counter() - began >= 0.06 - 0.005  # waited for the 4th, due at 60 ms
    assert [round(s - pace.t0, 3) for s in on_time] == [0.0, 0.02, 0.04, 0.06]
    closed = Pace(None)
    now = time.perf_counter()
    assert now <= asyncio.run(closed.next_start()) <= time.perf_counter()
