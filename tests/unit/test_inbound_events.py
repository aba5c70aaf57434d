"""Events in: signed webhooks over real HTTP, once per delivery, starting subscribed pipelines."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from corehub.client import Client
from corehub.config import Settings, load_settings
from corehub.config.settings import ApiSettings, EventSettings, EventSourceSettings
from corehub.config.view import flatten
from corehub.errors import ConfigError, NotFound, Unavailable
from corehub.pipelines import Pipeline, Step, Trigger
from corehub.registry import Registry, discover
from corehub.runtime import Runtime, build_runtime
from corehub.service.events import EventService
from corehub.service.inbound import sign
from corehub.store import Database, TaskRecord
from corehub.store.inbound import InboundStore, StandardEvent
from corehub.store.models import (
    inbound_events_table,
    pipeline_events_table,
    runs_table,
    steps_table,
    tasks_table,
)
from corehub.store.pipeline_records import NewRun, NewStep
from tests.unit.helpers import serving

SECRET = "It's a Secret to Everybody"
OTHER_SECRET = "another secret"
LIMIT = 8192  # api.max_body_bytes of the hub here
COMMENT = {"action": "created", "repository": {"full_name": "octo/hello"}, "comment": {"id": 1}}


def _hooks_registry(settings: Settings) -> Registry:
    """The built-in modules, one task that takes an event, and pipelines subscribed to:
    gh issue comments; every gh event type; pings of `other`."""
    registry = discover(settings.modules)

    def on_event(event: dict[str, Any]) -> str:
        return str(event["type"])

    registry.register_task("hooks", "on_event", on_event)
    step = (Step("handle", "hooks.on_event"),)
    registry.register_pipeline(
        Pipeline("comments", step, triggers=(Trigger("gh", "issue_comment"),))
    )
    registry.register_pipeline(Pipeline("all_gh", step, triggers=(Trigger("gh"),)))
    registry.register_pipeline(Pipeline("other_pings", step, triggers=(Trigger("other", "ping"),)))
    return registry


def _settings(root: Path) -> Settings:
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("COREHUB_")]:
            mp.delenv(name)
        mp.setenv("HOME", str(root))
        mp.chdir(root)
        return Settings(
            data_dir=root / "data",
            api=ApiSettings(max_body_bytes=LIMIT),
            events=EventSettings(
                sources={
                    "gh": EventSourceSettings(secret=SECRET),
                    "other": EventSourceSettings(
                        kind="generic",
                        secret=OTHER_SECRET,
                        signature_header="X-Signature",
                        signature_prefix="",
                        event_header="X-Event",
                        delivery_header="X-Delivery",
                    ),
                }
            ),
        )


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    root = tmp_path_factory.mktemp("events")
    settings = _settings(root)
    runtime = build_runtime(settings, publish=False, registry=_hooks_registry(settings))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def hub_url(rt: Runtime) -> Iterator[str]:
    """The hub's API served by uvicorn on loopback: deliveries go over real HTTP."""
    with serving(rt) as url:
        yield url


@pytest.fixture
def http(hub_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=10) as client:
        yield client


def _github(
    event: str = "issue_comment",
    payload: Any = None,
    *,
    delivery: str | None = None,
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    """A delivery as GitHub sends it: body bytes and headers, signed with `secret`."""
    body = json.dumps(COMMENT if payload is None else payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return body, headers


def _other(event: str, payload: Any, delivery: str | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Event": event,
        "X-Delivery": delivery or str(uuid.uuid4()),
        "X-Signature": sign(OTHER_SECRET, body, prefix=""),
    }
    return body, headers


def _post(http: httpx.Client, source: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return http.post(f"/events/{source}", content=body, headers=headers)


def _runs_of(db: Database, event_id: str) -> list[str]:
    """Names of the pipelines whose runs this event started, as the record holds them."""
    stmt = select(runs_table.c.pipeline).where(runs_table.c.event_id == event_id)
    with db.read() as conn:
        return sorted(conn.execute(stmt).scalars())


def _stored(rt: Runtime, source: str, delivery: str) -> StandardEvent | None:
    return rt.events.store.find(source, delivery)


# -- signatures: real HTTP, 401 and nothing stored ----------------------------------------------


def test_signature_is_githubs() -> None:
    """GitHub's documented example: this secret and body give this signature."""
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, b"Hello, World!") == expected


def test_a_signed_delivery_is_accepted(http: httpx.Client) -> None:
    body, headers = _github()
    response = _post(http, "gh", body, headers)
    assert response.status_code == 202, response.text


def _wrong_prefix(body: bytes) -> str:
    return "sha1=" + sign(SECRET, body).removeprefix("sha256=")


BAD_SIGNATURES: list[Any] = [
    pytest.param(lambda body: None, id="missing"),
    pytest.param(lambda body: "", id="empty"),
    pytest.param(lambda body: sign("not the secret", body), id="wrong-secret"),
    pytest.param(_wrong_prefix, id="wrong-prefix"),
    pytest.param(lambda body: sign(SECRET, body).removeprefix("sha256="), id="no-prefix"),
    pytest.param(lambda body: sign(SECRET, body + b" "), id="other-body"),
    pytest.param(lambda body: sign(SECRET, body)[:-1], id="truncated"),
    pytest.param(lambda body: sign(SECRET, body).encode() + b"\xe9", id="non-ascii"),
]


@pytest.mark.parametrize("signature", BAD_SIGNATURES)
def test_a_bad_signature_is_401_and_nothing_is_stored(
    http: httpx.Client, rt: Runtime, signature: Any
) -> None:
    body, headers = _github()
    value = signature(body)
    if value is None:
        del headers["X-Hub-Signature-256"]
    else:
        headers["X-Hub-Signature-256"] = value
    response = http.post("/events/gh", content=body, headers=headers)
    assert (response.status_code, response.headers["content-type"]) == (
        401,
        "application/problem+json",
    )
    assert _stored(rt, "gh", headers["X-GitHub-Delivery"]) is None


def test_a_body_changed_after_signing_is_401(http: httpx.Client, rt: Runtime) -> None:
    body, headers = _github()
    response = _post(http, "gh", body.replace(b"octo", b"evil"), headers)
    assert response.status_code == 401
    assert _stored(rt, "gh", headers["X-GitHub-Delivery"]) is None


def test_one_sources_secret_does_not_open_another(http: httpx.Client, rt: Runtime) -> None:
    body, headers = _other("push", {"x": 1})
    headers["X-Signature"] = sign(SECRET, body, prefix="")  # gh's secret, sent to `other`
    assert _post(http, "other", body, headers).status_code == 401
    assert _stored(rt, "other", headers["X-Delivery"]) is None


def test_an_unknown_source_is_404(http: httpx.Client) -> None:
    body, headers = _github()
    response = _post(http, "nosuch", body, headers)
    assert (response.status_code, response.json()["title"]) == (404, "Not found")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b'{"action": ', "application/json", id="json"),
        pytest.param(b"payload=%7Bnope", "application/x-www-form-urlencoded", id="form"),
        pytest.param(b"text=hi", "application/x-www-form-urlencoded", id="form-no-payload"),
    ],
)
def test_a_signed_malformed_body_is_422_and_nothing_is_stored(
    http: httpx.Client, rt: Runtime, body: bytes, content_type: str
) -> None:
    _, headers = _github()
    headers["X-Hub-Signature-256"] = sign(SECRET, body)
    headers["Content-Type"] = content_type
    assert _post(http, "gh", body, headers).status_code == 422
    assert _stored(rt, "gh", headers["X-GitHub-Delivery"]) is None


@pytest.mark.parametrize("header", ["X-GitHub-Delivery", "X-GitHub-Event"])
def test_a_delivery_without_its_id_or_type_is_422(
    http: httpx.Client, rt: Runtime, header: str
) -> None:
    body, headers = _github()
    delivery = headers["X-GitHub-Delivery"]
    del headers[header]
    response = _post(http, "gh", body, headers)
    assert (response.status_code, header in response.json()["detail"]) == (422, True)
    assert _stored(rt, "gh", delivery) is None


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(
    http: httpx.Client, rt: Runtime
) -> None:
    body, headers = _github(payload={"blob": "x" * LIMIT})
    assert _post(http, "gh", body, headers).status_code == 413
    assert _stored(rt, "gh", headers["X-GitHub-Delivery"]) is None


# -- the standard event and the runs it starts ---------------------------------------------------


def test_a_github_delivery_becomes_a_standard_event(http: httpx.Client) -> None:
    body, headers = _github()
    event = _post(http, "gh", body, headers).json()
    assert {k: event[k] for k in ("source", "type", "subject", "delivery_id", "payload")} == {
        "source": "gh",
        "type": "issue_comment",
        "subject": "octo/hello",
        "delivery_id": headers["X-GitHub-Delivery"],
        "payload": COMMENT,
    }


def test_a_payload_without_a_repository_has_no_subject(http: httpx.Client) -> None:
    body, headers = _github("push", {"ref": "refs/heads/main"})
    assert _post(http, "gh", body, headers).json()["subject"] is None


def test_a_form_encoded_github_delivery_is_read(http: httpx.Client) -> None:
    body = urlencode({"payload": json.dumps(COMMENT)}).encode()
    _, headers = _github()
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Hub-Signature-256"] = sign(SECRET, body)
    response = _post(http, "gh", body, headers)
    assert (response.status_code, response.json()["payload"]) == (202, COMMENT)


@pytest.mark.parametrize(
    ("source", "event_type", "started"),
    [
        pytest.param("gh", "issue_comment", ["all_gh", "comments"], id="gh-comment"),
        pytest.param("gh", "push", ["all_gh"], id="gh-push"),
        pytest.param("gh", "ping", [], id="gh-ping-wildcard-only"),
        pytest.param("other", "ping", ["other_pings"], id="other-ping"),
        pytest.param("other", "issue_comment", [], id="other-comment"),
    ],
)
def test_a_first_delivery_starts_the_subscribed_pipelines_only(
    http: httpx.Client, rt: Runtime, source: str, event_type: str, started: list[str]
) -> None:
    body, headers = _github(event_type) if source == "gh" else _other(event_type, {"zen": "hi"})
    response = _post(http, source, body, headers)
    event = response.json()
    assert response.status_code == 202
    assert (_runs_of(rt.db, event["id"]), len(event["runs"])) == (started, len(started))


def test_a_started_run_gets_the_event_as_its_input(http: httpx.Client, rt: Runtime) -> None:
    body, headers = _github("push", {"ref": "refs/heads/main"})
    event = _post(http, "gh", body, headers).json()
    run = rt.pipelines.get_run(event["runs"][0])
    with rt.db.read() as conn:
        kwargs = conn.execute(
            select(tasks_table.c.kwargs).where(tasks_table.c.pipeline_run_id == run.id)
        ).scalar_one()
    expected = {k: v for k, v in event.items() if k != "runs"}
    expected["received_at"] = datetime.fromisoformat(expected["received_at"]).isoformat()
    assert (run.input, kwargs) == ({"event": expected}, {"event": expected})


# -- replays: 200, the original, nothing started twice --------------------------------------------


def test_a_replayed_delivery_is_200_with_the_original(http: httpx.Client) -> None:
    body, headers = _github()
    first = _post(http, "gh", body, headers)
    again = _post(http, "gh", body, headers)
    assert (first.status_code, again.status_code, again.json()) == (202, 200, first.json())


def test_a_replayed_delivery_starts_nothing(http: httpx.Client, rt: Runtime) -> None:
    body, headers = _github()
    event = _post(http, "gh", body, headers).json()
    for _ in range(3):
        _post(http, "gh", body, headers)
    with rt.db.read() as conn:
        stored = conn.execute(
            select(func.count()).where(
                inbound_events_table.c.delivery_id == headers["X-GitHub-Delivery"]
            )
        ).scalar_one()
    assert (stored, _runs_of(rt.db, event["id"])) == (1, ["all_gh", "comments"])


def test_the_same_delivery_id_from_another_source_is_another_event(
    http: httpx.Client,
) -> None:
    delivery = str(uuid.uuid4())
    gh = _post(http, "gh", *_github("push", {}, delivery=delivery))
    other = _post(http, "other", *_other("push", {}, delivery=delivery))
    assert (gh.status_code, other.status_code) == (202, 202)
    assert gh.json()["id"] != other.json()["id"]


def test_concurrent_identical_deliveries_over_http_start_one_set(hub_url: str, rt: Runtime) -> None:
    body, headers = _github()
    barrier = threading.Barrier(6)
    answers: list[httpx.Response] = []

    def deliver() -> None:
        with httpx.Client(base_url=hub_url, timeout=10) as client:
            barrier.wait()
            answers.append(_post(client, "gh", body, headers))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    codes = sorted(a.status_code for a in answers)
    ids = {a.json()["id"] for a in answers}
    assert (codes, len(ids)) == ([200] * 5 + [202], 1)
    assert _runs_of(rt.db, ids.pop()) == ["all_gh", "comments"]


# -- reading events: API, client, CLI -------------------------------------------------------------


def test_get_event_returns_what_post_answered(http: httpx.Client) -> None:
    event = _post(http, "gh", *_github()).json()
    assert http.get(f"/events/{event['id']}").json() == event


def test_get_an_unknown_event_is_404(http: httpx.Client) -> None:
    assert http.get(f"/events/{uuid.uuid4()}").status_code == 404


def test_list_events_is_newest_first_and_filters_by_source(http: httpx.Client) -> None:
    posted = [_post(http, "other", *_other("push", {"n": n})).json()["id"] for n in range(3)]
    listed = http.get("/events", params={"source": "other", "limit": 3}).json()
    assert ([e["id"] for e in listed], {e["source"] for e in listed}) == (
        posted[::-1],
        {"other"},
    )


def test_the_client_lists_and_gets_events(hub_url: str, http: httpx.Client) -> None:
    event = _post(http, "gh", *_github()).json()
    with Client(hub_url) as client:
        newest = client.list_events(source="gh", limit=1)
        got = client.get_event(event["id"])
    assert (newest[0].id, got.id, got.runs) == (event["id"], event["id"], event["runs"])


def test_the_client_raises_not_found_for_an_unknown_event(hub_url: str) -> None:
    with Client(hub_url) as client, pytest.raises(NotFound):
        client.get_event(str(uuid.uuid4()))


def test_cli_events_list_and_show(hub_url: str, http: httpx.Client) -> None:
    from corehub.cli.main import app as cli_app

    event = _post(http, "other", *_other("push", {"cli": True})).json()
    runner = CliRunner()
    listed = runner.invoke(
        cli_app, ["events", "list", "--source", "other", "--url", hub_url, "--json"]
    )
    shown = runner.invoke(cli_app, ["events", "show", event["id"], "--url", hub_url, "--json"])
    assert (listed.exit_code, shown.exit_code) == (0, 0), listed.output + shown.output
    assert json.loads(listed.stdout)[0]["id"] == event["id"]
    assert json.loads(shown.stdout) == event


# -- the service: publishing after commit, broken pipelines ---------------------------------------


class _Publisher:
    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, tasks: Sequence[TaskRecord]) -> list[str]:
        self.published += [t.id for t in tasks]
        return [t.id for t in tasks]

    def revoke(self, task_id: str, *, terminate: bool) -> None:
        pass


def test_the_root_tasks_of_started_runs_are_published(rt: Runtime) -> None:
    publisher = _Publisher()
    service = EventService(rt.events.store, rt.pipelines, rt.store, publisher, rt.settings)
    body, headers = _github()
    received = service.receive("gh", headers, body)
    with rt.db.read() as conn:
        roots = conn.execute(
            select(tasks_table.c.id).where(tasks_table.c.pipeline_run_id.in_(received.event.runs))
        ).scalars()
        expected = sorted(roots)
    assert (sorted(publisher.published), len(expected)) == (expected, 2)


def test_a_pipeline_that_cannot_start_stores_nothing(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    registry = _hooks_registry(settings)
    registry.register_pipeline(
        Pipeline("broken", (Step("s", "hooks.gone"),), triggers=(Trigger("gh", "push"),))
    )
    runtime = build_runtime(settings, publish=False, registry=registry)
    try:
        body, headers = _github("push", {})
        with pytest.raises(Unavailable, match="broken"):
            runtime.events.receive("gh", headers, body)
        assert _stored(runtime, "gh", headers["X-GitHub-Delivery"]) is None
    finally:
        runtime.close()


# -- the store: once per delivery, with its runs, on both databases -------------------------------


def _clear(db: Database) -> None:
    with db.write() as conn:
        for table in (pipeline_events_table, steps_table, runs_table, inbound_events_table):
            conn.execute(delete(table))
        conn.execute(delete(tasks_table))


@pytest.fixture
def inbound(db: Database) -> InboundStore:
    _clear(db)
    return InboundStore(db)


def _event(delivery: str = "d-1", source: str = "gh", **changes: Any) -> StandardEvent:
    event = StandardEvent(
        id=str(uuid.uuid4()),
        source=source,
        delivery_id=delivery,
        type="push",
        subject="octo/hello",
        payload={"ref": "main"},
        received_at=datetime.now(UTC),
    )
    return replace(event, **changes)


def _run(event: StandardEvent, steps: list[NewStep] | None = None) -> NewRun:
    step = NewStep(
        name="handle",
        task_name="hooks.on_event",
        task={"name": "hooks.on_event", "queue": "celery"},
    )
    return NewRun(
        pipeline="p", steps=steps or [step], input={"event": event.as_input()}, event_id=event.id
    )


def _count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_record_stores_the_event_its_runs_and_their_root_tasks(
    inbound: InboundStore,
) -> None:
    event = _event()
    run = _run(event)
    recorded = inbound.record(event, [run])
    assert (recorded.created, recorded.event.runs, [t.pipeline_run_id for t in recorded.tasks]) == (
        True,
        [run.id],
        [run.id],
    )
    assert inbound.get(event.id) == recorded.event


def test_record_of_a_stored_delivery_returns_the_original_and_starts_nothing(
    inbound: InboundStore,
) -> None:
    first = inbound.record(_event(), [_run(_event())])
    again_event = _event()
    again = inbound.record(again_event, [_run(again_event)])
    assert (again.created, again.event, again.tasks) == (False, first.event, [])
    assert (_count(inbound.db, runs_table), _count(inbound.db, tasks_table)) == (1, 1)


def test_record_rolls_the_event_back_when_its_runs_cannot_be_stored(
    inbound: InboundStore,
) -> None:
    event = _event()
    twice = NewStep(name="same", task_name="hooks.on_event", task={"name": "x", "queue": "q"})
    with pytest.raises(IntegrityError):  # the steps' primary key: a broken plan
        inbound.record(event, [_run(event, [twice, twice])])
    assert (inbound.find("gh", "d-1"), _count(inbound.db, runs_table)) == (None, 0)


def test_concurrent_identical_deliveries_start_one_set_of_runs(inbound: InboundStore) -> None:
    """Each thread has its own event id and run ids, as separate API requests would."""
    threads, barrier = 8, threading.Barrier(8)
    results: list[Any] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        event = _event("d-race")
        try:
            barrier.wait()
            results.append(inbound.record(event, [_run(event)]))
        except BaseException as exc:  # a lost race must not raise
            errors.append(exc)

    workers = [threading.Thread(target=deliver) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert errors == []
    winners = [r for r in results if r.created]
    assert (len(results), len(winners), {r.event.id for r in results}) == (
        threads,
        1,
        {winners[0].event.id},
    )
    assert (_count(inbound.db, runs_table), _count(inbound.db, tasks_table)) == (1, 1)
    assert {r.event.runs[0] for r in results} == set(winners[0].event.runs)


def test_list_is_newest_first_and_filters_by_source(inbound: InboundStore) -> None:
    now = datetime.now(UTC)
    for n, source in enumerate(["gh", "other", "gh"]):
        inbound.record(_event(f"d{n}", source, received_at=now + timedelta(seconds=n)), [])
    assert [e.delivery_id for e in inbound.list(limit=10)] == ["d2", "d1", "d0"]
    assert [e.delivery_id for e in inbound.list("gh", limit=1)] == ["d2"]


# -- settings --------------------------------------------------------------------------------------


def test_a_sources_secret_is_masked_in_the_config_view(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COREHUB_EVENTS__SOURCES__GH__SECRET", "hunter2")
    values = flatten(load_settings())
    assert (values["events.sources.gh.secret"], "hunter2" in json.dumps(values)) == ("***", False)


def test_a_source_needs_a_secret(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREHUB_EVENTS__SOURCES__GH__KIND", "github")
    with pytest.raises(ConfigError, match="secret"):
        load_settings()


def test_a_source_name_must_fit_a_url(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREHUB_EVENTS__SOURCES", '{"a/b": {"secret": "s"}}')
    with pytest.raises(ConfigError, match="source names"):
        load_settings()
