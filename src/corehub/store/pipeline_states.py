"""A pipeline run's lifecycle and its steps' lifecycle, as tables."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RECEIVED = "received"  # accepted; no step has started yet
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PENDING = "pending"  # waiting for its parents
    QUEUED = "queued"  # released: its task exists
    RUNNING = "running"  # its task has started
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"  # a parent failed and the run let other branches finish
    CANCELLED = "cancelled"


RUN_FINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
STEP_FINAL = frozenset(
    {StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
STEP_LIVE = frozenset({StepStatus.QUEUED, StepStatus.RUNNING})
# What a rerun starts again.
STEP_RERUNNABLE = frozenset({StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED})


class FailurePolicy(StrEnum):
    FAIL_FAST = "fail_fast"  # the first failed step fails the run and cancels the rest
    CONTINUE = "continue"  # independent branches finish; dependents of a failure are skipped
