"""Suite-wide: the real-server fixtures, and how tests are shared between pytest-xdist workers."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.harness.fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per file, and one for the whole integration package: its hubs are
    package-scoped, started once and kept, so its files must not be split between workers
    (each would start and stop its own hubs again). Without xdist the groups do nothing."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = "integration" if path.startswith("tests/integration/") else path
        item.add_marker(pytest.mark.xdist_group(group))
