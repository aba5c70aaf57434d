"""Generated ids are the version-4 UUIDs `uuid.uuid4()` would give, and do not repeat."""

from __future__ import annotations

import uuid

from corehub.ids import random_uuid


def test_an_id_is_a_version_4_uuid_in_its_canonical_text() -> None:
    for _ in range(2000):
        text = random_uuid()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_do_not_repeat_and_use_every_variant_digit() -> None:
    ids = [random_uuid() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert {text[19] for text in ids} == set("89ab")
