"""Your own method: the worked example registers in one line and goes through every command."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from test_curves_cli import invoke

import unweave
from unweave.errors import UnweaveError
from unweave.models import MODELS, register_method

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sequential_vae.py"
SMALL = ["data.options.n_train=256", "data.options.n_test=128", "train.max_epochs=3"]


@pytest.fixture(scope="module")
def example():
    """The example module, imported (which registers 'tiny-svae'), unregistered afterwards."""
    spec = importlib.util.spec_from_file_location("sequential_vae_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    MODELS["series"].pop("tiny-svae", None)


def test_the_example_trains_evaluates_swaps_and_reports_through_the_cli(
    example, tmp_path, monkeypatch, capsys
):
    sets = [item for setting in SMALL for item in ("--set", setting)]
    runs = str(tmp_path / "runs")
    assert invoke(capsys, monkeypatch, "train", "tiny-svae", "--data", "synthetic-series",
                  "--runs-dir", runs, "--name", "mine", *sets)[0] == 0  # fmt: skip
    run = tmp_path / "runs" / "mine"
    assert invoke(capsys, monkeypatch, "evaluate", str(run), "--metrics", "probes")[0] == 0
    figures = json.loads((run / "eval.json").read_text())
    assert figures["probe/static->level"] >= 0.9  # chance 0.27: the static code holds the level
    assert invoke(capsys, monkeypatch, "swap", str(run), "--n", "3")[0] == 0
    assert (run / "swap.png").is_file() and (run / "reconstruction.png").is_file()
    assert invoke(capsys, monkeypatch, "report", str(run))[0] == 0
    assert 'id="swap-grid"' in (run / "report.html").read_text()
    code, err = invoke(capsys, monkeypatch, "train", "tiny-svae", "--data", "synthetic-series",
                       "--preset", "paper", "--runs-dir", runs)  # fmt: skip
    assert code == 2
    assert "Preset 'paper' is not among tiny-svae's presets; expected one of: cpu." in err


def test_the_example_fits_and_evaluates_through_the_api(example, tmp_path):
    run = unweave.fit("tiny-svae", "synthetic-series", run_dir=tmp_path / "run",
                      data__options__n_train=256, data__options__n_test=128,
                      train={"max_epochs": 3})  # fmt: skip
    assert isinstance(run.model, example.TinySequentialVAE)
    assert run.evaluate(metrics="probes")["probe/static->level"] >= 0.9
    assert run.encode()["dynamic"].shape == (128, 10, 8)


def test_a_class_that_breaks_the_contract_is_one_sentence():
    with pytest.raises(UnweaveError, match="Half lacks batch_inputs, loss, encode, decode"):
        register_method("half", "series")(type("Half", (), {"config_class": dict}))
    with pytest.raises(UnweaveError, match="modality 'text'; expected one of: video"):
        register_method("words", "text")


def test_installed_packages_register_methods_through_the_entry_point_group(example, monkeypatch):
    from importlib.metadata import EntryPoint

    import unweave.models as models
    from unweave import plugins

    monkeypatch.setattr(models, "MODELS", {k: dict(v) for k, v in MODELS.items()})
    value = f"{example.__name__}:TinySequentialVAE"
    monkeypatch.setitem(sys.modules, example.__name__, example)
    monkeypatch.setattr(
        plugins, "entry_points", lambda group: [EntryPoint("plugged-vae", value, group)]
    )
    models.register_installed_methods()
    assert models.model_class("plugged-vae", "series") is example.TinySequentialVAE
