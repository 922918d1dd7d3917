"""The table of data sets: every entry loads through one path, a user's registers the same way."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from unweave.data import registry
from unweave.data.registry import DATASETS, DataSet, data_modality, load_data, register
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_entry_has_a_loader_its_options_and_a_licence(name):
    entry = DATASETS[name]
    assert entry.modality in registry.MODALITIES
    parameters = inspect.signature(entry.load_function()).parameters
    assert "split" in parameters
    assert ("root" in parameters) == (entry.files != "none")
    assert entry.description and entry.licence
    assert entry.files != "required" or entry.folder or entry.root_help
    assert not {"split", "root"} & set(entry.options())


def test_options_come_with_their_defaults_and_forwarded_ones_count():
    assert registry.DATASETS["toy-sprites"].options()["size"] == 32
    strings = registry.DATASETS["fsdd-strings"].options()
    assert strings["words_per_utterance"] == 4 and strings["features"] == "stft"
    synthetic = registry.DATASETS["synthetic-series"].options()
    assert synthetic["n_windows"] == 10 and "n" not in synthetic
    csv = registry.DATASETS["series-csv"].options()
    assert csv["time_column"] is inspect.Parameter.empty and csv["test_fraction"] == 0.2


def test_a_misspelt_option_names_the_closest():
    with pytest.raises(UnweaveError, match="Did you mean 'data.options.n_train'"):
        load_data("toy-sprites", "train", n_trian=10)


def test_a_missing_root_says_what_to_point_at(monkeypatch):
    monkeypatch.delenv("UNWEAVE_DATA", raising=False)
    with pytest.raises(UnweaveError) as error:
        load_data("air-quality", "train")
    assert str(error.value) == (
        "The 'air-quality' data set needs --root PATH (the folder of the 12 PRSA CSV files), "
        "or UNWEAVE_DATA set to a folder holding air-quality/."
    )


def test_an_unknown_data_set_lists_the_known_ones():
    with pytest.raises(UnweaveError, match="Unknown data set 'nope'; expected one of: toy-sprites"):
        data_modality("nope")


def test_a_users_data_set_registers_in_one_call_and_loads_like_the_rest(monkeypatch, capsys):
    monkeypatch.setattr(registry, "DATASETS", dict(DATASETS))

    def load_mine(split: str, n: int = 6) -> SeriesData:
        x = np.zeros((n, 8, 2), np.float32) + (split == "test")
        return SeriesData(x, np.ones_like(x, bool), ["a", "b"], "mine", split)

    register(DataSet("mine", "series", load_mine, "two flat features", "CC0"))
    assert data_modality("mine") == "series"
    data = load_data("mine", "test", n=3)
    assert data.x.shape == (3, 8, 2) and data.x.max() == 1.0
    with pytest.raises(UnweaveError, match="expected one of: n"):
        load_data("mine", "test", m=3)
    with pytest.raises(UnweaveError, match="modality 'text'; expected one of: video"):
        register(DataSet("words", "text", load_mine, "", ""))

    from unweave.cli import data_list

    data_list()
    assert "  mine               two flat features [no files; CC0]" in capsys.readouterr().out


MINE = DataSet("plugged", "images", "unweave.data.dsprites:load_dsprites", "a plugin's set", "MIT")


def test_installed_packages_register_through_the_entry_point_group(monkeypatch):
    from importlib.metadata import EntryPoint

    from unweave import plugins

    monkeypatch.setattr(registry, "DATASETS", dict(DATASETS))
    points = [EntryPoint("plugged", f"{__name__}:MINE", "unweave.datasets")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: points)
    registry.register_installed()
    assert data_modality("plugged") == "images"
    points[:] = [EntryPoint("bad", f"{__name__}:test_a_misspelt_option_names_the_closest", "g")]
    with pytest.raises(UnweaveError, match="in unweave.datasets is a function; expected"):
        registry.register_installed()
    points[:] = [EntryPoint("gone", "no_such_module_here:X", "g")]
    with pytest.raises(UnweaveError, match="'gone' .* does not load: No module named"):
        registry.register_installed()


def test_the_readme_data_table_lists_every_data_set():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Data")[1].split("\n\n")[0]
    assert [name for name in DATASETS if f"`{name}`" not in table] == []
