"""Shared fixtures. Network-lab tests skip off CI without root, and fail on CI."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from chatty_p2p.node import Node
from tests.netlab import Lab, lab_unavailable_reason

# The window is tested for real, but never on a screen: a bare `pytest` works too.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Property tests and fuzz targets: a few hundred cases in every run, many more on demand
# (pytest tests/test_fuzz.py --hypothesis-profile=fuzz).
settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A long fuzz run is not a hung test: lift the per-test timeout for it."""
    if config.getoption("hypothesis_profile", None) == "fuzz":
        for item in items:
            item.add_marker(pytest.mark.timeout(0))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    reason = lab_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the network lab, but: {reason}")
        pytest.skip(reason)
    tmp_path.chmod(0o755)
    built = Lab(tmp_path)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    """Two started nodes on loopback, alpha and bravo, without mDNS; not yet connected."""
    a = Node(tmp_path / "a", name="alpha", discovery=False)
    b = Node(tmp_path / "b", name="bravo", discovery=False)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()
