"""Budget curves through the `unweave` command: checkpoints kept while training, each scored
by `evaluate --checkpoints`, plotted by `curve`; and the sentences for bad input."""

from __future__ import annotations

import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_series_cli import run_cli, train_args

from unweave.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny series DBSE of 3 steps keeping checkpoints at steps 1 and 2, scored at all 3."""
    folder = tmp_path_factory.mktemp("curves")
    keep = "train.keep_checkpoints_at=[1,2]"
    result = run_cli(*train_args("dbse", folder / "runs", keep, "train.batch_size=64"), cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    run = folder / "runs" / "dbse"
    for args in (["--checkpoints", "all"], []):  # the checkpoints, then the exported model
        result = run_cli("evaluate", str(run), "--metrics", "probes", *args, cwd=folder)
        assert result.returncode == 0, result.stderr[-2000:]
    return run


def test_every_kept_checkpoint_and_the_last_are_scored(run) -> None:
    files = sorted((run / "evals").glob("step-*.json"))
    assert [f.name for f in files] == ["step-1.json", "step-2.json", "step-3.json"]
    rows = [json.loads(f.read_text()) for f in files]
    assert [r["step"] for r in rows] == [1, 2, 3]
    seconds = [r["elapsed_s"] for r in rows]
    assert 0 < seconds[0] < seconds[1] < seconds[2]
    for row in rows:
        assert 0 <= row["probe/static->family"] <= 1 and row["probe/mse"] > 0
    # The last checkpoint holds the exported weights: the same figures as RUN/eval.json.
    exported = json.loads((run / "eval.json").read_text())
    assert {k: rows[-1][k] for k in exported} == exported


def test_curve_writes_a_png_and_its_points(run, tmp_path) -> None:
    out = tmp_path / "level.png"
    args = ["curve", str(run), "--metric", "probe/static->level", "--out", str(out)]
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    image = Image.open(out)
    assert image.format == "PNG" and len(np.unique(np.asarray(image.convert("L")))) > 2
    table = json.loads(out.with_suffix(".json").read_text())
    points = table["runs"]["dbse"]
    assert table["metric"] == "probe/static->level" and [p["step"] for p in points] == [1, 2, 3]
    rows = [json.loads((run / "evals" / f"step-{s}.json").read_text()) for s in (1, 2, 3)]
    assert [p["value"] for p in points] == [r["probe/static->level"] for r in rows]
    assert [p["minutes"] for p in points] == [r["elapsed_s"] / 60 for r in rows]


def invoke(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    """``unweave ARGS`` in-process: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["unweave", *args])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["curve", "{run}", "--metric", "probe/static->colour"],
            r"Metric 'probe/static->colour' is not among the scored checkpoints of .*dbse; "
            r"available: probe/chance:family, .*probe/static->level",
        ),
        (
            ["curve", "{bare}", "--metric", "probe/mse"],
            r"Run .*bare has no scored checkpoints \(.*evals holds no step-N\.json\); run "
            r"'unweave evaluate .*bare --checkpoints all' first\.",
        ),
        (
            ["evaluate", "{bare}", "--checkpoints", "all"],
            r"Run .*bare keeps no checkpoints besides last\.ckpt; train with --set "
            r"'train\.keep_checkpoints_at=\[STEP,\.\.\.\]'",
        ),
        (
            ["evaluate", "{run}", "--checkpoints", "1,7"],
            r"Run .*dbse has no checkpoint kept at step 7; kept steps: 1, 2\.",
        ),
        (
            ["evaluate", "{run}", "--checkpoints", "first"],
            r"--checkpoints 'first': 'first' is not a step; expected all, last, or steps",
        ),
        (
            ["evaluate", "{empty}", "--checkpoints", "last"],
            r"Run .*empty has no checkpoints \(.*checkpoints is missing or empty\)",
        ),
    ],
)
def test_bad_input_is_one_sentence(run, tmp_path, capsys, monkeypatch, args, message) -> None:
    bare, empty = tmp_path / "bare", tmp_path / "empty"
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("step-*"))
    shutil.copytree(run, empty, ignore=shutil.ignore_patterns("checkpoints"))
    folders = {"run": run, "bare": bare, "empty": empty}
    code, err = invoke(capsys, monkeypatch, *(a.format(**folders) for a in args))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(message, err), err


def test_series_evaluation_runs_every_downstream_task(run, monkeypatch) -> None:
    """The `downstream` group: each task of the run's data, its metrics' means and stds."""
    import dataclasses

    import unweave.downstream
    from unweave.evaluation import Evaluation, EvaluationSettings
    from unweave.export import load

    original = unweave.downstream.get_task
    short = lambda name, data: dataclasses.replace(original(name, data), epochs=1, runs=2)  # noqa: E731
    monkeypatch.setattr(unweave.downstream, "get_task", short)
    evaluation = Evaluation(run, "series", ["downstream"], EvaluationSettings())
    figures = evaluation.score(load(run))
    for task in ("level", "family"):
        assert 0 <= figures[f"downstream/{task}/accuracy"] <= 1
        assert figures[f"downstream/{task}/accuracy_std"] >= 0
        chance = figures[f"downstream/{task}/chance"]
        assert chance == pytest.approx(
            np.bincount(evaluation.test.static[task]).max() / len(evaluation.test)
        )
    assert figures == evaluation.score(load(run))  # seeded: the same figures again


def test_a_run_still_training_is_scored_from_its_checkpoints(run, tmp_path, capsys, monkeypatch):
    training = tmp_path / "training"  # no export yet, as while `unweave train` runs
    shutil.copytree(
        run, training, ignore=shutil.ignore_patterns("model.*", "config.json", "README.md", "eval*")
    )
    code, err = invoke(capsys, monkeypatch, "evaluate", str(training), "--metrics", "probes")
    assert code == 2 and "'unweave evaluate RUN --checkpoints last' scores it" in err
    code, _ = invoke(
        capsys, monkeypatch, "evaluate", str(training), "--metrics", "probes", "--checkpoints", "1"
    )
    assert code == 0
    scored = json.loads((training / "evals" / "step-1.json").read_text())
    # The same figures as the fixture's (threads differ in-process: float sums may round apart).
    assert scored == pytest.approx(json.loads((run / "evals" / "step-1.json").read_text()))
