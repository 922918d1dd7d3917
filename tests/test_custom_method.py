"""Your own method: the worked example registers in one line and goes through every command."""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import pytest

import unweave
from unweave.cli import main
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


def unweave_cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["unweave", *args])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code


def test_the_example_trains_evaluates_swaps_and_reports_through_the_cli(
    example, tmp_path, monkeypatch, capsys
):
    sets = [item for setting in SMALL for item in ("--set", setting)]
    runs = str(tmp_path / "runs")
    assert unweave_cli(monkeypatch, "train", "tiny-svae", "--data", "synthetic-series",
                       "--runs-dir", runs, "--name", "mine", *sets) == 0  # fmt: skip
    run = tmp_path / "runs" / "mine"
    assert unweave_cli(monkeypatch, "evaluate", str(run), "--metrics", "probes") == 0
    figures = json.loads((run / "eval.json").read_text())
    assert figures["probe/static->level"] >= 0.9  # chance 0.27: the static code holds the level
    assert unweave_cli(monkeypatch, "swap", str(run), "--n", "3") == 0
    assert (run / "swap.png").is_file() and (run / "reconstruction.png").is_file()
    assert unweave_cli(monkeypatch, "report", str(run)) == 0
    assert 'id="swap-grid"' in (run / "report.html").read_text()
    assert unweave_cli(monkeypatch, "train", "tiny-svae", "--data", "synthetic-series",
                       "--preset", "paper", "--runs-dir", runs) == 2  # fmt: skip
    assert "Preset 'paper' is not among tiny-svae's presets; expected one of: cpu." in (
        capsys.readouterr().err
    )


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
