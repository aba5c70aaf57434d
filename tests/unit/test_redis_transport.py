"""Which transport a Redis broker URL gets (no server needed: nothing connects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corehub.config.settings import BrokerSettings
from tests.unit.helpers import celery_app


def _connection(broker: str, tmp_path: Path) -> Any:
    return celery_app(BrokerSettings(url=broker), tmp_path).connection_for_write()


def test_a_redis_url_goes_through_corehubs_transport(tmp_path: Path) -> None:
    from corehub.engine.redis_transport import Transport

    conn = _connection("redis://127.0.0.1:6399/0", tmp_path)
    assert type(conn.transport) is Transport
    assert not conn.ssl


@pytest.mark.parametrize(
    "url", ["rediss://127.0.0.1:6399/0", "rediss://127.0.0.1:6399/0?ssl_cert_reqs=required"]
)
def test_a_rediss_url_keeps_kombus_transport_and_its_tls(tmp_path: Path, url: str) -> None:
    """kombu turns TLS on only for a transport named by the `rediss` scheme."""
    conn = _connection(url, tmp_path)
    assert conn.transport_cls == "rediss"
    assert conn.ssl
