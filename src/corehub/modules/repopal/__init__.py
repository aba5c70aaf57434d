"""RepoPal: a repository event becomes a command, the command runs, its result is reported.

The four stages are one pipeline, `repopal.handle_event`, started by GitHub issue and
comment events (or by hand). While it runs, its state reads as RepoPal named them:
received, processing, dispatching, executing, processing_results, then completed or failed.
A comment such as `/repopal wordcount` chooses the command; commands are harmless
stand-ins (`echo`, `wordcount`, `fail`) so the example runs anywhere.
"""

from __future__ import annotations

from typing import Any

from corehub.pipelines import Pipeline, Step, Trigger

__version__ = "1.0.0"
PREFIX = "/repopal"
COMMANDS = ("echo", "wordcount", "fail")


class CommandFailed(Exception):
    """The command ran and failed: a permanent error, not worth retrying."""


def process_event(event: dict[str, Any]) -> dict[str, Any]:
    """Read a standard event: which repository, which command, on what text."""
    payload = event.get("payload") or {}
    comment = (payload.get("comment") or payload.get("issue") or {}).get("body") or ""
    words = comment.split()
    command, args = "echo", words
    if words and words[0] == PREFIX:
        command, args = (words[1], words[2:]) if len(words) > 1 else ("echo", [])
    return {
        "event_id": event.get("id"),
        "repository": event.get("subject"),
        "command": command,
        "text": " ".join(args),
    }


def dispatch_command(process_event: dict[str, Any]) -> dict[str, Any]:
    """Choose the handler for the command (an unknown one is reported, not run)."""
    command = process_event["command"]
    return {
        **process_event,
        "handler": command if command in COMMANDS else "unknown",
    }


def execute_command(dispatch_command: dict[str, Any]) -> dict[str, Any]:
    """Run the chosen command."""
    handler, text = dispatch_command["handler"], dispatch_command["text"]
    if handler == "fail":
        raise CommandFailed(f"command failed on purpose: {text!r}")
    if handler == "wordcount":
        output: Any = len(text.split())
    elif handler == "echo":
        output = text
    else:
        output = f"unknown command {dispatch_command['command']!r}; known: {', '.join(COMMANDS)}"
    return {**dispatch_command, "exit_code": 0 if handler != "unknown" else 2, "output": output}


def process_results(execute_command: dict[str, Any]) -> dict[str, Any]:
    """Summarise the result as the reply RepoPal would post."""
    result = execute_command
    verdict = "done" if result["exit_code"] == 0 else "could not run"
    return {
        "repository": result["repository"],
        "event_id": result["event_id"],
        "reply": f"{result['command']}: {verdict}: {result['output']}",
    }


PIPELINE = Pipeline(
    name="repopal.handle_event",
    description=__doc__.strip().splitlines()[0] if __doc__ else "",
    steps=(
        Step("process_event", "repopal.process_event", label="processing"),
        Step(
            "dispatch_command",
            "repopal.dispatch_command",
            after=("process_event",),
            label="dispatching",
        ),
        Step(
            "execute_command",
            "repopal.execute_command",
            after=("dispatch_command",),
            label="executing",
        ),
        Step(
            "process_results",
            "repopal.process_results",
            after=("execute_command",),
            label="processing_results",
        ),
    ),
    triggers=(Trigger("github", "issue_comment"), Trigger("github", "issues")),
)


# Each stage on its own queue, as RepoPal routed them, so each can get its own workers.
ROUTES = {
    process_event: "events",
    dispatch_command: "dispatch",
    execute_command: "execute",
    process_results: "results",
}


def register_tasks(registry: Any) -> None:
    for func, queue in ROUTES.items():
        registry.register_task("repopal", func.__name__, func, queue=queue)
    registry.register_pipeline(PIPELINE)
