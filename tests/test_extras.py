"""Optional extras: pyproject.toml names each one, and a missing one is one sentence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from unweave.errors import UnweaveError
from unweave.extras import EXTRAS, require

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_every_extra_is_in_pyproject_with_its_package():
    optional = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    for extra, (module, _) in EXTRAS.items():
        assert extra in optional, extra
        assert any(module in requirement for requirement in optional[extra]), extra


@pytest.mark.parametrize("extra", list(EXTRAS))
def test_a_missing_extra_names_what_to_install(extra, monkeypatch):
    monkeypatch.setitem(sys.modules, EXTRAS[extra][0], None)  # its import now fails
    with pytest.raises(
        UnweaveError, match=rf"^Rendering needs the .* pip install 'unweave\[{extra}\]'"
    ):
        require(extra, "Rendering")


def test_the_notes_data_set_says_which_extra_it_needs(monkeypatch):
    from unweave.data.notes import NoteSynth

    monkeypatch.setitem(sys.modules, "tinysoundfont", None)
    with pytest.raises(UnweaveError, match=r"unweave\[notes\]'; its dependency pyaudio"):
        NoteSynth()
