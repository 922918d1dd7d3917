"""Shared fixtures: a private cache per test session, tiny configs, the real-data folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("UNWEAVE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point UNWEAVE_CACHE at a fresh folder so tests never touch a user's cache."""
    folder = tmp_path_factory.mktemp("unweave-cache")
    os.environ["UNWEAVE_CACHE"] = str(folder)
    return folder


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own (UNWEAVE_CACHE points at it)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("UNWEAVE_CACHE", str(folder))
    return folder


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread for small models (on a shared 2-core machine two threads that wait
    on each other are 10-100x slower); the old count is restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    """Under ``CI=true`` with SHARED_DATA present, a test that skips for want of real data
    fails instead: there the real-data tests must run. Elsewhere (a fresh clone with nothing
    beside it) they skip with a reason that names the folder."""
    report = yield
    if report.skipped and os.environ.get("CI") == "true" and SHARED_DATA.is_dir():
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        if "SHARED_DATA" in reason or str(SHARED_DATA) in reason:
            report.outcome = "failed"
            report.longrepr = f"CI=true and {SHARED_DATA} exists, yet the test skipped: {reason}"
    return report
