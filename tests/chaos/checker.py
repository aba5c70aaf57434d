"""What a chaos scenario must leave behind, read from the hub's record and the task ledger."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from corehub.schemas import TERMINAL_STATUSES, TaskView
from corehub.store.states import TaskStatus, is_legal
from tests.integration.hubs import Hub


@dataclass
class Report:
    scenario: str
    accepted: int
    terminal: int = 0
    lost: int = 0
    wrong_outcome: int = 0
    missing_effects: int = 0
    duplicate_effects: int = 0
    absorbed_effects: int = 0
    illegal_transitions: int = 0
    stale_commits: int = 0
    executions: int = 0
    recovery_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def duplicate_execution_rate(self) -> float:
        return max(self.executions - self.accepted, 0) / self.accepted if self.accepted else 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.wrong_outcome
            or self.missing_effects
            or self.duplicate_effects
            or self.illegal_transitions
            or self.stale_commits
        )


def wait_terminal(hub: Hub, ids: list[str], timeout: float) -> dict[str, TaskView]:
    """Poll until every task is final or the time is up; returns what was seen last."""
    deadline = time.monotonic() + timeout
    seen: dict[str, TaskView] = {}
    with hub.client() as client:
        pending = list(ids)
        while pending and time.monotonic() < deadline:
            page_ids = set(pending)
            for task_id in list(page_ids):
                try:
                    seen[task_id] = client.get(task_id)
                except Exception:  # no row yet, or the API is restarting
                    continue
            pending = [
                i for i in pending if i not in seen or seen[i].status not in TERMINAL_STATUSES
            ]
            if pending:
                time.sleep(0.25)
    return seen


def check(
    scenario: str, hub: Hub, ledger: str, expected: dict[str, str], fault_at: float, timeout: float
) -> Report:
    """`expected` maps each accepted task id to the final status it must reach."""
    ids = list(expected)
    seen = wait_terminal(hub, ids, timeout)
    report = Report(scenario, accepted=len(ids))
    report.recovery_seconds = round(time.monotonic() - fault_at, 2)
    report.terminal = sum(1 for v in seen.values() if v.status in TERMINAL_STATUSES)
    report.lost = len(ids) - report.terminal
    report.wrong_outcome = sum(
        1
        for i in ids
        if i in seen and seen[i].status in TERMINAL_STATUSES and seen[i].status != expected[i]
    )
    report.problems += [
        f"{i}: {seen[i].status} ({seen[i].error_detail}) after {seen[i].attempt} attempts"
        for i in ids
        if i in seen and seen[i].status in TERMINAL_STATUSES and seen[i].status != expected[i]
    ]
    _check_events(hub, ids, seen, report)
    _check_ledger(ledger, [i for i in ids if expected[i] == "success"], report)
    if report.lost:
        report.problems.append(hub.logs())
    return report


def _check_events(hub: Hub, ids: list[str], seen: dict[str, TaskView], report: Report) -> None:
    with hub.client() as client:
        for task_id in ids:
            events = client.events(task_id)
            changes = [e for e in events if e.to_status is not None]
            report.illegal_transitions += sum(
                1
                for e in changes
                if not is_legal(
                    TaskStatus(e.from_status) if e.from_status else None,
                    TaskStatus(e.to_status or ""),
                )
            )
            finals = [e for e in changes if e.to_status in TERMINAL_STATUSES]
            view = seen.get(task_id)
            # A stale commit: more than one final event, or one from an older attempt.
            if len(finals) > 1 or (
                finals
                and view
                and finals[0].attempt != view.attempt
                and finals[0].from_status == "started"
            ):
                report.stale_commits += 1


def _check_ledger(ledger: str, succeeded: list[str], report: Report) -> None:
    conn = sqlite3.connect(ledger, timeout=30)
    try:
        executions = conn.execute("SELECT count(*) FROM executions").fetchone()[0]
        effects = conn.execute("SELECT task_id FROM effects").fetchall()
        absorbed = conn.execute("SELECT count(*) FROM absorbed").fetchone()[0]
    finally:
        conn.close()
    report.executions = int(executions)
    by_task = [row[0] for row in effects]
    report.duplicate_effects = len(by_task) - len(set(by_task))
    report.missing_effects = len(set(succeeded) - set(by_task))
    report.absorbed_effects = int(absorbed)


HEADER = (
    "| scenario | accepted | terminal | lost | wrong | missing effects | duplicate effects | "
    "absorbed | illegal | stale | executions | dup. exec. rate | recovery s |"
)


def markdown(reports: list[Report]) -> str:
    lines = [HEADER, "|" + "---|" * 13]
    for r in reports:
        lines.append(
            f"| {r.scenario} | {r.accepted} | {r.terminal} | {r.lost} | {r.wrong_outcome} | "
            f"{r.missing_effects} | {r.duplicate_effects} | {r.absorbed_effects} | "
            f"{r.illegal_transitions} | {r.stale_commits} | {r.executions} | "
            f"{r.duplicate_execution_rate:.1%} | {r.recovery_seconds} |"
        )
    return "\n".join(lines)
