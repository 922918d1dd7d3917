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
