"""`corehub`: run the hub, submit and follow tasks, inspect modules and configuration.

Errors end in one line on stderr and a non-zero exit: 2 bad input or config, 3 not found,
4 hub or broker unreachable, 5 conflict, 1 a task that failed.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from corehub import jsoncodec
from corehub.cli import render
from corehub.cli.options import JsonOpt, UrlOpt
from corehub.cli.pipelines import pipelines_app
from corehub.client import Client, HubUnreachable
from corehub.config import Settings, load_settings
from corehub.errors import ConfigError, Conflict, CorehubError, InvalidInput, NotFound
from corehub.schemas import (
    TERMINAL_STATUSES,
    BucketView,
    CreateScheduleRequest,
    ScheduleView,
    TaskView,
)

if TYPE_CHECKING:  # the local side pulls in SQLAlchemy and Celery: only when it is used
    from corehub.cli.access import HubAccess

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="corehub: a durable task hub. SQL is the record; Celery runs the work.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
list_app = typer.Typer(no_args_is_help=True, help="List registered tasks, modules or task runs.")
app.add_typer(db_app, name="db")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: list and replay dead tasks.")
app.add_typer(list_app, name="list")
app.add_typer(dlq_app, name="dlq")
schedules_app = typer.Typer(no_args_is_help=True, help="Periodic schedules (interval or cron).")
app.add_typer(schedules_app, name="schedules")
events_app = typer.Typer(no_args_is_help=True, help="Inbound events (webhooks) the hub stored.")
flow_app = typer.Typer(no_args_is_help=True, help="Flow control: circuit breakers and limits.")
app.add_typer(flow_app, name="flow")
app.add_typer(events_app, name="events")
app.add_typer(pipelines_app, name="pipelines")

EXIT_CODES: list[tuple[type[CorehubError], int]] = [
    (ConfigError, 2),
    (InvalidInput, 2),
    (NotFound, 3),
    (HubUnreachable, 4),
    (Conflict, 5),
]


def _settings() -> Settings:
    return load_settings()


def _access(url: str | None) -> HubAccess:
    """`--url` → that hub's API; beside a running embedded hub → its API; else the local
    installation (beside an embedded hub that is down, rows wait for it to start)."""
    from corehub.cli.access import LocalAccess, RemoteAccess

    if url:
        return RemoteAccess(Client(url))
    settings = _settings()
    if settings.embedded_broker:
        local_url = f"http://{settings.api.host}:{settings.api.port}"
        client = Client(local_url, timeout=2.0)
        try:
            client.ping()
            return RemoteAccess(client)
        except CorehubError:
            client.close()
    from corehub.runtime import build_runtime

    return LocalAccess(build_runtime(settings, publish=not settings.embedded_broker))


# -- serving ---------------------------------------------------------------------------------


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Run the whole hub in one process: API, worker threads, scheduler (embedded)."""
    from corehub.cli.serve import serve_embedded

    settings = _settings()
    serve_embedded(settings, host or settings.api.host, port or settings.api.port)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="API processes sharing the port (one per core)")
    ] = None,
) -> None:
    """Run the HTTP API alone (split mode)."""
    from corehub.cli.serve import serve_api

    settings = _settings()
    serve_api(
        settings,
        host or settings.api.host,
        port or settings.api.port,
        workers or settings.api.workers,
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c")] = None,
    pool: Annotated[str | None, typer.Option("--pool", "-P")] = None,
    queues: Annotated[str | None, typer.Option("--queues", "-Q")] = None,
    loglevel: Annotated[str | None, typer.Option("--loglevel", "-l")] = None,
) -> None:
    """Run a Celery worker for the registered tasks; other options pass through to Celery."""
    from corehub.cli.serve import run_worker

    run_worker(
        _settings(),
        list(ctx.args),
        concurrency=concurrency,
        pool=pool,
        queues=queues,
        loglevel=loglevel,
    )


@app.command()
def scheduler() -> None:
    """Run the scheduler: delayed and periodic tasks, rescue of lost attempts, outbox relay."""
    from corehub.cli.serve import run_scheduler

    run_scheduler(_settings())


# -- tasks -----------------------------------------------------------------------------------


def _parse_kwargs(pairs: list[str], raw_json: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if raw_json:
        try:
            loaded = jsoncodec.loads(raw_json)
        except jsoncodec.JSONDecodeError as exc:
            raise InvalidInput(f"--kwargs is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidInput("--kwargs must be a JSON object")
        kwargs.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"-k expects key=value, got {pair!r}")
        try:
            kwargs[key] = jsoncodec.loads(value)
        except jsoncodec.JSONDecodeError:
            kwargs[key] = value
    return kwargs


@app.command()
def run(
    task_name: Annotated[str, typer.Argument(help="module.task, e.g. echo_bot.echo")],
    kw: Annotated[
        list[str] | None, typer.Option("-k", "--kw", help="key=value (JSON or text)")
    ] = None,
    kwargs_json: Annotated[
        str | None, typer.Option("--kwargs", help="kwargs as a JSON object")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="wait for the result")] = False,
    timeout: Annotated[float | None, typer.Option(help="seconds to wait at most")] = None,
    countdown: Annotated[
        float | None, typer.Option("--countdown", min=0, help="run in this many seconds")
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option("--at", help="run at this time (ISO 8601; no zone: this host's)"),
    ] = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a task by name; with --wait, print its result (exit 1 if it failed)."""
    hub = _access(url)
    run_at = at.astimezone() if at is not None and at.tzinfo is None else at
    view = hub.run(
        task_name, _parse_kwargs(kw or [], kwargs_json), run_at=run_at, countdown=countdown
    )
    if not wait:
        if as_json:
            render.emit_json(view)
        else:
            render.out.print(f"accepted {view.task_name} [bold]{view.task_id}[/bold]")
        return
    final = _wait(hub, view, timeout, quiet=as_json)
    _show_outcome(final, as_json)


def _wait(hub: HubAccess, view: TaskView, timeout: float | None, *, quiet: bool) -> TaskView:
    deadline = None if timeout is None else time.monotonic() + timeout
    started = time.monotonic()
    label = f"{view.task_name} {view.task_id}"
    with render.err.status(f"waiting for {label} ({view.status})") as spinner:
        while view.status not in TERMINAL_STATUSES:
            if deadline is not None and time.monotonic() > deadline:
                raise CorehubError(f"task {view.task_id} still {view.status} after {timeout}s")
            time.sleep(0.1)
            view = hub.get(view.task_id)
            hint = ""
            if view.status == "queued" and time.monotonic() - started > 5:
                hint = " - no worker has taken it yet: is the hub running?"
            spinner.update(f"waiting for {label} ({view.status}){hint}")
    return view


def _show_outcome(view: TaskView, as_json: bool) -> None:
    if as_json:
        render.emit_json(view)
    elif view.status == "success":
        render.out.print_json(jsoncodec.dumps_str(view.result))
    else:
        render.err.print(
            f"[red]{view.task_name} {view.task_id} {view.status}[/red]: "
            f"{view.error or 'no error recorded'}"
        )
    if view.status != "success":
        raise typer.Exit(1)


@app.command()
def status(
    task_id: Annotated[str, typer.Argument(help="the task id")],
    events: Annotated[bool, typer.Option("--events", "-e", help="show the event log")] = False,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a task: status, result or error, timings; --events for its history."""
    hub = _access(url)
    view = hub.get(task_id)
    log = hub.events(task_id) if events else []
    if as_json:
        body = view.model_dump(mode="json")
        if events:
            body["events"] = [e.model_dump(mode="json") for e in log]
        render.emit_json(body)
        return
    rows = [
        ("task", view.task_name),
        ("id", view.task_id),
        ("status", render.status_text(view.status)),
        ("attempt", f"{view.attempt}/{view.max_attempts}"),
        ("queue", view.queue),
        ("created", render.when(view.created_at)),
        ("started", render.when(view.started_at)),
        ("completed", render.when(view.completed_at)),
        ("result", jsoncodec.dumps_str(view.result)),
        ("error", view.error or "-"),
    ]
    render.table(f"task {view.task_id}", ["field", "value"], rows)
    if events:
        render.table(
            "events",
            ["id", "at", "type", "from", "to", "attempt", "message"],
            [
                (
                    e.id,
                    render.when(e.created_at),
                    e.type,
                    e.from_status or "-",
                    e.to_status or "-",
                    e.attempt,
                    e.message or "",
                )
                for e in log
            ],
        )


@app.command()
def cancel(
    task_id: Annotated[str, typer.Argument(help="the task id")],
    terminate: Annotated[bool, typer.Option(help="also kill a running attempt")] = False,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an unfinished task; a running one is revoked (exit 5 if it already finished)."""
    view = _access(url).cancel(task_id, terminate)
    if as_json:
        render.emit_json(view)
    else:
        render.out.print(f"cancelled {view.task_name} [bold]{view.task_id}[/bold]")


@list_app.command("tasks")
def list_tasks(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Registered tasks and their parameters."""
    infos = _access(url).registered_tasks()
    if as_json:
        render.emit_json(infos)
        return
    render.table(
        "tasks",
        ["name", "parameters", "description"],
        [
            (
                i.name,
                ", ".join(_param(p.name, p.annotation, p.required, p.default) for p in i.parameters)
                or "-",
                i.description,
            )
            for i in infos
        ],
    )


def _param(name: str, annotation: str | None, required: bool, default: Any) -> str:
    text = f"{name}: {annotation}" if annotation else name
    return text if required else f"{text} = {default!r}"


@list_app.command("modules")
def list_modules(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Loaded modules: version, tasks, heartbeat."""
    mods = _access(url).modules()
    if as_json:
        render.emit_json(mods)
        return
    render.table(
        "modules",
        ["name", "version", "tasks", "heartbeat", "description"],
        [
            (
                m.name,
                m.version,
                ", ".join(t.task for t in m.tasks),
                m.heartbeat.get("status", "?"),
                m.description,
            )
            for m in mods
        ],
    )


@app.command("modules")
def modules_cmd(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Loaded modules (same as `list modules`)."""
    list_modules(url, as_json)


@list_app.command("runs")
def list_runs(
    status_: Annotated[list[str] | None, typer.Option("--status", "-s")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="task name")] = None,
    since: Annotated[datetime | None, typer.Option(help="created at or after (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of a previous page")] = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submitted tasks, newest first."""
    page = _access(url).list_tasks(
        status=status_, task_name=name, since=since, limit=limit, cursor=cursor
    )
    if as_json:
        render.emit_json(page)
        return
    render.table(
        "task runs",
        ["id", "task", "status", "attempt", "created", "completed"],
        [
            (
                v.task_id,
                v.task_name,
                render.status_text(v.status),
                v.attempt,
                render.when(v.created_at),
                render.when(v.completed_at),
            )
            for v in page.items
        ],
    )
    if page.next_cursor:
        render.out.print(f"more: --cursor {page.next_cursor}")


@dlq_app.command("list")
def dlq_list(
    name: Annotated[str | None, typer.Option("--name", "-n", help="task name")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dead tasks (attempts exhausted), newest first."""
    page = _access(url).list_tasks(
        status=["dead"], task_name=name, since=None, limit=limit, cursor=None
    )
    if as_json:
        render.emit_json(page)
        return
    render.table(
        "dead letters",
        ["id", "task", "attempts", "error", "when"],
        [
            (v.task_id, v.task_name, v.attempt, (v.error or "")[:60], render.when(v.completed_at))
            for v in page.items
        ],
    )


@dlq_app.command("replay")
def dlq_replay(
    task_ids: Annotated[list[str] | None, typer.Argument(help="dead task ids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="every dead task (with --name)")] = False,
    name: Annotated[str | None, typer.Option("--name", "-n", help="task name")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    kw: Annotated[
        list[str] | None, typer.Option("-k", "--kw", help="replace kwargs: key=value")
    ] = None,
    kwargs_json: Annotated[
        str | None, typer.Option("--kwargs", help="replace kwargs (JSON)")
    ] = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay dead tasks as new tasks linked to them, optionally with edited kwargs."""
    if not task_ids and not all_:
        raise InvalidInput("name task ids to replay, or --all")
    hub = _access(url)
    kwargs = _parse_kwargs(kw or [], kwargs_json) if (kw or kwargs_json) else None
    if task_ids:
        views = [hub.replay(task_id, kwargs) for task_id in task_ids]
    else:
        with render.err.status("replaying dead tasks"):
            views = hub.replay_matching(task_name=name, limit=limit, kwargs=kwargs)
    if as_json:
        render.emit_json(views)
        return
    for v in views:
        render.out.print(f"replayed {v.parent_id} as {v.task_name} [bold]{v.task_id}[/bold]")
    if not views:
        render.out.print("no dead tasks matched")


@events_app.command("list")
def events_list(
    source: Annotated[str | None, typer.Option("--source", help="only this source")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Inbound events, newest first, with the pipeline runs each started."""
    views = _access(url).inbound_events(source=source, limit=limit)
    if as_json:
        render.emit_json(views)
        return
    render.table(
        "events",
        ["id", "source", "type", "subject", "runs", "received"],
        [
            (v.id, v.source, v.type, v.subject or "-", len(v.runs), render.when(v.received_at))
            for v in views
        ],
    )


@events_app.command("show")
def events_show(
    event_id: Annotated[str, typer.Argument(help="the event id")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One inbound event: its delivery, the runs it started and its payload."""
    view = _access(url).inbound_event(event_id)
    if as_json:
        render.emit_json(view)
        return
    render.out.print(f"[bold]{view.id}[/bold] {view.source} {view.type} {view.subject or ''}")
    render.out.print(f"delivery {view.delivery_id}, received {render.when(view.received_at)}")
    render.out.print(f"runs: {', '.join(view.runs) or '-'}")
    print(jsoncodec.dumps_str(view.payload))


# -- schedules -------------------------------------------------------------------------------


def _schedule_rows(views: list[ScheduleView]) -> list[tuple[str, ...]]:
    return [
        (
            v.name,
            v.task_name,
            f"every {v.every:g}s" if v.every is not None else f"{v.cron} ({v.timezone})",
            "paused" if v.paused else render.when(v.next_fire_at),
            render.when(v.last_fire_at),
            v.source,
        )
        for v in views
    ]


SCHEDULE_COLUMNS = ["name", "task", "when", "next", "last", "source"]


@schedules_app.command("list")
def schedules_list(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Every schedule with its next slot."""
    views = _access(url).schedules()
    if as_json:
        render.emit_json(views)
        return
    render.table("schedules", SCHEDULE_COLUMNS, _schedule_rows(views))


@schedules_app.command("show")
def schedules_show(
    name: Annotated[str, typer.Argument(help="the schedule's name")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One schedule: its task, timing and slots."""
    view = _access(url).schedule(name)
    if as_json:
        render.emit_json(view)
        return
    render.table(f"schedule {view.name}", SCHEDULE_COLUMNS, _schedule_rows([view]))
    render.out.print(f"kwargs: {jsoncodec.dumps_str(view.kwargs)}, misfire: {view.misfire}")


@schedules_app.command("add")
def schedules_add(
    name: Annotated[str, typer.Argument(help="the schedule's name, e.g. reports.daily")],
    task_name: Annotated[str, typer.Argument(help="module.task to run")],
    every: Annotated[float | None, typer.Option(help="seconds between runs")] = None,
    cron: Annotated[str | None, typer.Option(help="cron expression, e.g. '0 9 * * *'")] = None,
    tz: Annotated[str, typer.Option("--tz", help="the cron's time zone")] = "UTC",
    misfire: Annotated[str, typer.Option(help="skip | run_once")] = "skip",
    kw: Annotated[
        list[str] | None, typer.Option("-k", "--kw", help="key=value (JSON or text)")
    ] = None,
    kwargs_json: Annotated[
        str | None, typer.Option("--kwargs", help="kwargs as a JSON object")
    ] = None,
    paused: Annotated[bool, typer.Option(help="create it paused")] = False,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Define a schedule: --every SECONDS or --cron EXPR (with --tz)."""
    try:
        body = CreateScheduleRequest(
            name=name,
            task_name=task_name,
            kwargs=_parse_kwargs(kw or [], kwargs_json),
            every=every,
            cron=cron,
            timezone=tz,
            misfire=misfire,
            paused=paused,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from None
    view = _access(url).add_schedule(body)
    if as_json:
        render.emit_json(view)
    else:
        render.out.print(f"schedule [bold]{view.name}[/bold] next at {view.next_fire_at}")


@schedules_app.command("remove")
def schedules_remove(
    name: Annotated[str, typer.Argument(help="the schedule's name")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a schedule made through the API or CLI (exit 5 for a config file's)."""
    _access(url).remove_schedule(name)
    if as_json:
        render.emit_json({"removed": name})
    else:
        render.out.print(f"removed schedule {name}")


def _set_paused(name: str, paused: bool, url: str | None, as_json: bool) -> None:
    view = _access(url).pause_schedule(name, paused)
    if as_json:
        render.emit_json(view)
    else:
        render.out.print(f"{'paused' if paused else 'resumed'} schedule {view.name}")


@schedules_app.command("pause")
def schedules_pause(
    name: Annotated[str, typer.Argument(help="the schedule's name")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop firing a schedule until it is resumed."""
    _set_paused(name, True, url, as_json)


@schedules_app.command("resume")
def schedules_resume(
    name: Annotated[str, typer.Argument(help="the schedule's name")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fire a paused schedule again from its next slot (missed slots are not fired)."""
    _set_paused(name, False, url, as_json)


@schedules_app.command("run")
def schedules_run(
    name: Annotated[str, typer.Argument(help="the schedule's name")],
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit the schedule's task once, now."""
    view = _access(url).run_schedule(name)
    if as_json:
        render.emit_json(view)
    else:
        render.out.print(f"accepted {view.task_name} [bold]{view.task_id}[/bold]")


# -- flow control ----------------------------------------------------------------------------


@flow_app.command("breakers")
def flow_breakers(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Circuit breakers: state, failures in the window, totals, when an open one may probe."""
    views = _access(url).breakers()
    if as_json:
        render.emit_json(views)
        return
    render.table(
        "circuit breakers",
        ["name", "state", "failures", "total ok", "total failed", "opened", "open until"],
        [
            (
                b.name,
                b.state,
                f"{b.failures_in_window}/{b.failure_threshold}",
                b.total_successes,
                b.total_failures,
                b.times_opened,
                render.when(b.open_until),
            )
            for b in views
        ],
    )


@flow_app.command("limits")
def flow_limits(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Rate limits with the tokens left per key; concurrency limits with their counts."""
    limits = _access(url).flow_limits()
    if as_json:
        render.emit_json(limits)
        return
    render.table(
        "rate limits",
        ["task", "rate", "key", "tokens"],
        [
            (r.task_name, r.rate, b.key, f"{b.tokens:g}")
            for r in limits.rate_limits
            for b in r.buckets or [BucketView(key="(unused)", tokens=0)]
        ],
    )
    render.table(
        "concurrency limits",
        ["task", "limit", "key", "queued or running"],
        [
            (c.task_name, c.limit, key, n)
            for c in limits.concurrency
            for key, n in (c.running or {"(none)": 0}).items()
        ],
    )


# -- configuration and database --------------------------------------------------------------


@app.command()
def config(
    key: Annotated[str | None, typer.Argument(help="a dotted key, e.g. database.url")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the effective configuration (secrets masked)."""
    from corehub.config.view import flatten

    values = flatten(_settings())
    if key is not None:
        matches = {k: v for k, v in values.items() if k == key or k.startswith(key + ".")}
        if not matches:
            raise NotFound(f"no configuration key {key!r}")
        values = matches
    if as_json:
        render.emit_json(values)
    elif key is not None and len(values) == 1:
        print(next(iter(values.values())))
    else:
        render.table("configuration", ["key", "value"], sorted(values.items()))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    from corehub.store import Database
    from corehub.store.migrate import current_revision, upgrade

    settings = _settings()
    db = Database(settings.database.url)
    with render.err.status("upgrading the schema"):
        upgrade(db)
    render.out.print(f"database at revision {current_revision(db)}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision."""
    from corehub.store import Database
    from corehub.store.migrate import current_revision

    db = Database(_settings().database.url)
    print(current_revision(db) or "(empty)")


def main() -> None:
    """Entry point: every known error becomes one line and an exit code."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except CorehubError as exc:
        code = next((c for cls, c in EXIT_CODES if isinstance(exc, cls)), 1)
        lines = exc.problems if isinstance(exc, ConfigError) else [exc.detail]
        for line in lines:
            render.err.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        render.err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # usage errors and the unexpected: still one line
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()  # a usage error, shown the way the parser shows it
            sys.exit(code)
        if os.environ.get("COREHUB_DEBUG"):
            raise
        render.err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
