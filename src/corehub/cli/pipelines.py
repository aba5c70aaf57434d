"""`corehub pipelines …`: define, run and follow pipelines; `--wait` draws the run's tree live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.live import Live
from rich.tree import Tree

from corehub.cli import render
from corehub.cli.options import JsonOpt, UrlOpt
from corehub.errors import CorehubError, InvalidInput
from corehub.schemas import RUN_FINAL_STATUSES, PipelineRunView

if TYPE_CHECKING:
    from corehub.cli.access import HubAccess

pipelines_app = typer.Typer(no_args_is_help=True, help="Pipelines: define, run, follow, rerun.")
RUN_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}
STEP_STYLE = {
    "success": "green",
    "failed": "red",
    "skipped": "yellow",
    "cancelled": "yellow",
    "running": "cyan",
    "queued": "blue",
    "pending": "dim",
}


def _hub(url: str | None) -> HubAccess:
    from corehub.cli.main import _access  # the composition of access lives with the CLI root

    return _access(url)


def tree(run: PipelineRunView) -> Tree:
    """The run as a tree: its state, then each step with its state, attempt and time."""
    style = RUN_STYLE.get(run.status, "white")
    root = Tree(
        f"[bold]{run.pipeline}[/bold] {run.run_id} [{style}]{run.status}[/{style}]"
        + (f" ({run.state})" if run.state != run.status else "")
    )
    for step in run.steps:
        s = STEP_STYLE.get(step.status, "white")
        after = f" after {', '.join(step.parents)}" if step.parents else ""
        took = f" {step.duration_seconds:.3f}s" if step.duration_seconds is not None else ""
        attempt = f" attempt {step.attempt}" if step.attempt > 1 else ""
        line = f"{step.name} [{s}]{step.status}[/{s}]{attempt}{took}[dim]{after}[/dim]"
        if step.error and step.status in ("failed", "cancelled", "skipped"):
            line += f" [dim]- {step.error}[/dim]"
        root.add(line)
    if run.error:
        root.add(f"[red]{run.error}[/red]")
    return root


def _follow(hub: HubAccess, run: PipelineRunView, timeout: float | None, as_json: bool) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    with Live(tree(run), console=render.err, transient=as_json, auto_refresh=False) as live:
        while run.status not in RUN_FINAL_STATUSES:
            if deadline is not None and time.monotonic() > deadline:
                raise CorehubError(f"pipeline run {run.run_id} still {run.status} after {timeout}s")
            time.sleep(0.2)
            run = hub.pipeline_run(run.run_id)
            live.update(tree(run), refresh=True)
    if not as_json and not render.err.is_terminal:
        render.err.line()  # Rich ends the last frame's line only on a terminal
    _finish(run, as_json)


def _show(
    hub: HubAccess,
    view: PipelineRunView,
    wait: bool,
    timeout: float | None,
    as_json: bool,
    line: str | None = None,
) -> None:
    """Follow the run live (`--wait`), or print it once: JSON, a line, or its tree."""
    if wait:
        _follow(hub, view, timeout, as_json)
    elif as_json:
        render.emit_json(view)
    else:
        render.out.print(line if line is not None else tree(view))


def _finish(run: PipelineRunView, as_json: bool) -> None:
    if as_json:
        render.emit_json(run)
    if run.status in ("failed", "cancelled"):
        raise typer.Exit(1)


@pipelines_app.command("list")
def list_pipelines(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Pipelines defined by modules (code) and through the API."""
    views = _hub(url).pipelines()
    if as_json:
        render.emit_json(views)
        return
    rows = [
        (
            v.name,
            v.source,
            " → ".join(s.name for s in v.steps) if len(v.steps) <= 6 else f"{len(v.steps)} steps",
            v.failure_policy,
            ", ".join(f"{t.source}:{t.type}" for t in v.triggers) or "-",
        )
        for v in views
    ]
    render.table("pipelines", ["name", "source", "steps", "on failure", "started by"], rows)


@pipelines_app.command("define")
def define(
    path: Annotated[Path, typer.Argument(help="a JSON or YAML file with the definition")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Define (or replace) a pipeline from a file."""
    try:
        spec = yaml.safe_load(path.read_text())  # YAML is a superset of JSON
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    view = _hub(url).define_pipeline(spec)
    if as_json:
        render.emit_json(view)
    else:
        render.out.print(f"defined pipeline [bold]{view.name}[/bold] ({len(view.steps)} steps)")


@pipelines_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="the pipeline's name")],
    kw: Annotated[
        list[str] | None, typer.Option("-k", "--kw", help="input key=value (JSON or text)")
    ] = None,
    input_json: Annotated[
        str | None, typer.Option("--input", help="input as a JSON object")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="follow the run live")] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds to wait at most")] = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run; with --wait, draw its steps live (exit 1 if it failed)."""
    from corehub.cli.main import _parse_kwargs

    hub = _hub(url)
    view = hub.run_pipeline(name, _parse_kwargs(kw or [], input_json))
    _show(hub, view, wait, timeout, as_json, f"started {view.pipeline} [bold]{view.run_id}[/bold]")


@pipelines_app.command("status")
def status(
    run_id: Annotated[str, typer.Argument(help="a pipeline run id")],
    wait: Annotated[bool, typer.Option("--wait", "-w", help="follow the run live")] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds to wait at most")] = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A run with its steps' states, attempts and timings."""
    hub = _hub(url)
    _show(hub, hub.pipeline_run(run_id), wait, timeout, as_json)


@pipelines_app.command("runs")
def runs(
    pipeline: Annotated[str | None, typer.Option(help="only this pipeline's runs")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", "-s", help="received|running|completed|…")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recent runs, newest first."""
    page = _hub(url).pipeline_runs(pipeline=pipeline, status=status, limit=limit)
    if as_json:
        render.emit_json(page)
        return
    rows: list[tuple[Any, ...]] = [
        (r.run_id, r.pipeline, render.status_text(r.status), r.state, render.when(r.created_at))
        for r in page.items
    ]
    render.table("pipeline runs", ["run", "pipeline", "status", "state", "created"], rows)


@pipelines_app.command("cancel")
def cancel(
    run_id: Annotated[str, typer.Argument(help="a pipeline run id")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an unfinished run and its steps."""
    hub = _hub(url)
    _show(hub, hub.cancel_pipeline_run(run_id), False, None, as_json)


@pipelines_app.command("rerun")
def rerun(
    run_id: Annotated[str, typer.Argument(help="a failed or cancelled run")],
    wait: Annotated[bool, typer.Option("--wait", "-w", help="follow the run live")] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds to wait at most")] = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run again from the steps that did not succeed, keeping the results of those that did."""
    hub = _hub(url)
    _show(hub, hub.rerun_pipeline_run(run_id), wait, timeout, as_json)
