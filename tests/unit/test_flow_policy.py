"""The pure flow-control policies: token buckets, the circuit breaker, priority numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corehub.config import Settings
from corehub.engine.priorities import priority_levels, redis_steps
from corehub.resilience import breaker as cb
from corehub.resilience.breaker import Breaker, BreakerPolicy, BreakerState
from corehub.resilience.ratelimit import Bucket, Rate, full, next_token_at, parse_rate, take

T0 = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = BreakerPolicy(failure_threshold=3, window_seconds=10, reset_seconds=5)
RECHECK = timedelta(seconds=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/s", Rate(10, 1)),
        ("100/m", Rate(100, 60)),
        ("1000/h", Rate(1000, 3600)),
        ("5/d", Rate(5, 86400)),
        ("3/10s", Rate(3, 10)),
        (" 2 / m ", Rate(2, 60)),
    ],
)
def test_parse_rate_reads_count_and_period(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "10", "10/x", "0/s", "-1/s", "10/0s", "ten/s"])
def test_parse_rate_rejects_malformed_rates(text: str) -> None:
    with pytest.raises(ValueError, match="invalid rate"):
        parse_rate(text)


def test_a_new_bucket_holds_one_seconds_worth_of_tokens() -> None:
    assert (full(Rate(10, 1), T0).tokens, full(Rate(1000, 3600), T0).tokens) == (10, 1)


def test_take_allows_while_tokens_remain_then_refuses() -> None:
    bucket, rate, allowed = full(Rate(3, 1), T0), Rate(3, 1), []
    for _ in range(4):
        bucket, ok = take(bucket, rate, T0)
        allowed.append(ok)
    assert allowed == [True, True, True, False]


def test_tokens_refill_at_the_rate_up_to_capacity() -> None:
    rate = Rate(2, 1)
    empty = Bucket(0.0, T0)
    assert [take(empty, rate, at(s))[1] for s in (0.4, 0.5)] == [False, True]
    bucket, _ = take(empty, rate, at(100))
    assert bucket.tokens == pytest.approx(1.0)  # capacity 2, one taken


def test_next_token_times_are_spaced_for_waiters_in_line() -> None:
    rate, empty = Rate(4, 1), Bucket(0.0, T0)
    times = [next_token_at(empty, rate, T0, behind=n) for n in range(3)]
    assert times == [at(0.25), at(0.5), at(0.75)]


def test_a_clock_that_goes_back_adds_no_tokens() -> None:
    _, ok = take(Bucket(0.0, at(10)), Rate(1, 1), at(5))
    assert ok is False


def test_rate_held_over_a_simulated_minute() -> None:
    """Polling every 0.2 s for 60 s at 10/s admits 600 plus at most the first second's burst."""
    rate, bucket, admitted = Rate(10, 1), full(Rate(10, 1), T0), 0
    for tick in range(300):
        for _ in range(50):  # a deep backlog
            bucket, ok = take(bucket, rate, at(tick * 0.2))
            if not ok:
                break
            admitted += 1
    assert 600 <= admitted <= 610


def _failures(b: Breaker, *seconds: float) -> Breaker:
    for s in seconds:
        b = cb.record_failure(b, POLICY, at(s))
    return b


def test_breaker_opens_after_threshold_failures_in_the_window() -> None:
    b = _failures(Breaker("db"), 0, 1, 2)
    assert (b.state, b.open_until, b.times_opened) == (BreakerState.OPEN, at(7), 1)


def test_failures_in_separate_windows_do_not_open_it() -> None:
    b = _failures(Breaker("db"), 0, 1, 11)
    assert (b.state, b.failures) == (BreakerState.CLOSED, 1)


def test_open_breaker_holds_tasks_until_its_reset_time() -> None:
    b = _failures(Breaker("db"), 0, 1, 2)
    assert cb.verdict(b, at(3), RECHECK) == cb.Verdict(admit=False, wait_until=at(7))


def test_after_the_reset_time_one_probe_is_admitted_and_others_wait() -> None:
    b = _failures(Breaker("db"), 0, 1, 2)
    first = cb.verdict(b, at(7), RECHECK)
    half = cb.start_probe(b, POLICY, at(7), "probe-1")
    second = cb.verdict(half, at(7), RECHECK)
    assert (first.probe, half.state, second.admit, second.wait_until) == (
        True,
        BreakerState.HALF_OPEN,
        False,
        at(8),
    )


def test_probe_success_closes_the_breaker() -> None:
    half = cb.start_probe(_failures(Breaker("db"), 0, 1, 2), POLICY, at(7), "p")
    closed = cb.record_success(half, at(8))
    assert (closed.state, closed.failures, cb.verdict(closed, at(8), RECHECK).admit) == (
        BreakerState.CLOSED,
        0,
        True,
    )


def test_probe_failure_opens_it_again_with_a_new_reset_time() -> None:
    half = cb.start_probe(_failures(Breaker("db"), 0, 1, 2), POLICY, at(7), "p")
    again = cb.record_failure(half, POLICY, at(8))
    assert (again.state, again.open_until, again.times_opened) == (BreakerState.OPEN, at(13), 2)


def test_a_silent_probe_is_replaced_after_the_reset_time() -> None:
    half = cb.start_probe(_failures(Breaker("db"), 0, 1, 2), POLICY, at(7), "p")
    assert cb.verdict(half, at(12), RECHECK).probe is True


def test_late_results_while_open_only_count() -> None:
    b = _failures(Breaker("db"), 0, 1, 2)
    later = cb.record_success(cb.record_failure(b, POLICY, at(3)), at(4))
    assert (later.state, later.total_failures, later.total_successes, later.open_until) == (
        BreakerState.OPEN,
        4,
        1,
        at(7),
    )


def _settings(broker: str, names: list[str] | None = None) -> Settings:
    tasks = {"priorities": names, "default_priority": names[1]} if names else {}
    return Settings(broker={"url": broker}, tasks=tasks)


def test_rabbitmq_gives_the_highest_name_the_highest_number() -> None:
    levels = priority_levels(_settings("amqp://guest@localhost//"))
    assert levels == {"high": 2, "default": 1, "low": 0}


def test_redis_gives_the_highest_name_step_zero_on_kombus_default_steps() -> None:
    settings = _settings("redis://localhost/0")
    assert (priority_levels(settings), redis_steps(settings)) == (
        {"high": 0, "default": 3, "low": 6},
        [0, 3, 6, 9],
    )


def test_redis_with_many_names_uses_one_step_each() -> None:
    names = ["p0", "p1", "p2", "p3", "p4", "p5"]
    settings = _settings("redis://localhost/0", names)
    assert list(priority_levels(settings).values()) == [0, 1, 2, 3, 4, 5]


def test_in_process_broker_orders_higher_numbers_first() -> None:
    from kombu import Connection

    from corehub.engine.priorities import PriorityMemoryTransport

    levels = priority_levels(_settings("memory://localhost/"))
    with Connection("memory://localhost/", transport=PriorityMemoryTransport) as conn:
        queue = conn.SimpleQueue("test-priorities")
        for n, name in enumerate(["low", "default", "high", "low", "high"]):
            queue.put({"n": n}, priority=levels[name])
        order = [queue.get(timeout=1).payload["n"] for _ in range(5)]
        queue.close()
    assert order == [2, 4, 1, 0, 3]
