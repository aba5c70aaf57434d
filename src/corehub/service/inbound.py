"""Webhook deliveries to standard events: signature check and normalisation (pure).

The signature is an HMAC-SHA256 of the raw body bytes, exactly as they arrived: any
re-encoding (parsing JSON and dumping it again) would change the bytes and the digest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from corehub import jsoncodec
from corehub.config.settings import EventSourceSettings
from corehub.errors import InvalidInput, Unauthorized
from corehub.ids import random_uuid
from corehub.store.inbound import StandardEvent

MAX_DELIVERY_ID = 200  # inbound_events.delivery_id
MAX_TYPE = 100  # inbound_events.type
MAX_SUBJECT = 300  # inbound_events.subject


def sign(secret: str, body: bytes, prefix: str = "sha256=") -> str:
    """The signature header value a sender computes for `body` (GitHub's form by default)."""
    return prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(source: EventSourceSettings, headers: Mapping[str, str], body: bytes) -> None:
    """`Unauthorized` unless the signature header is the HMAC of `body` under the source's
    secret. The digests are compared in constant time so the answer leaks nothing about
    how much of a forged signature was right."""
    given = headers.get(source.signature_header.lower())
    if not given:
        raise Unauthorized(f"missing signature header {source.signature_header}")
    expected = sign(source.secret.get_secret_value(), body, source.signature_prefix)
    # Headers arrive as latin-1 text; bytes make compare_digest accept any of them.
    if not hmac.compare_digest(expected.encode(), given.strip().encode("latin-1", "replace")):
        raise Unauthorized(f"the {source.signature_header} signature does not match the body")


def normalise(
    name: str, source: EventSourceSettings, headers: Mapping[str, str], body: bytes
) -> StandardEvent:
    """A verified delivery as a `StandardEvent`; `InvalidInput` when it lacks what the hub
    needs (its type, its delivery id, a JSON body).

    The type is the event header as sent (GitHub: `issue_comment`, `push`, `ping`); a
    GitHub `action` stays in the payload. The subject is the repository's `full_name` when
    the payload names one.
    """
    type_ = _header(headers, source.event_header, MAX_TYPE)
    delivery_id = _header(headers, source.delivery_header, MAX_DELIVERY_ID)
    payload = _payload(headers, body)
    return StandardEvent(
        id=random_uuid(),
        source=name,
        delivery_id=delivery_id,
        type=type_,
        subject=_subject(payload) if source.kind == "github" else None,
        payload=payload,
        received_at=datetime.now(UTC),
    )


def _header(headers: Mapping[str, str], name: str, longest: int) -> str:
    value = (headers.get(name.lower()) or "").strip()
    if not value:
        raise InvalidInput(f"missing header {name}")
    if len(value) > longest:
        raise InvalidInput(f"header {name} is longer than {longest} characters")
    return value


def _payload(headers: Mapping[str, str], body: bytes) -> Any:
    """JSON, or GitHub's form encoding (`payload=<json>`) when the hook is set up so."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    raw: bytes | str = body
    if content_type == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode(), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("malformed form body") from None
        if len(form.get("payload", [])) != 1:
            raise InvalidInput("a form-encoded delivery needs one `payload` field")
        raw = form["payload"][0]
    try:
        payload = jsoncodec.loads(raw)
    except jsoncodec.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None
    try:
        jsoncodec.dumps(payload)  # what the database cannot hold (NUL in text) is refused now
    except TypeError as exc:
        raise InvalidInput(f"the payload cannot be stored: {exc}") from None
    return payload


def _subject(payload: Any) -> str | None:
    repository = payload.get("repository") if isinstance(payload, dict) else None
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name[:MAX_SUBJECT] if isinstance(name, str) and name else None
