"""The study on labelled video: the judge protocol's table, leakage, minutes and swap grids,
end to end through real ``unweave`` processes on tiny toy sprites."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from unweave import study
from unweave.errors import UnweaveError
from unweave.training import run as run_module


def test_judged_columns_follow_the_papers_table_and_the_leakage_probes():
    columns = study.judged_columns(["skin", "hair"], ["action"])
    assert list(columns) == [
        "judge/sample_static/acc/action",
        "judge/sample_static/is",
        "judge/sample_static/h_yx",
        "judge/sample_static/h_y",
        "judge/sample_dynamic/acc/skin",
        "judge/sample_dynamic/acc/hair",
        "judge/sample_dynamic/acc/action",
        "probe/static->action",
        "probe/dynamic->skin",
        "probe/dynamic->hair",
    ]
    assert columns["judge/sample_static/acc/action"] == "f drawn: action"


def test_a_judged_run_trains_its_judge_before_evaluating_and_draws_its_swap_grid(
    tmp_path, monkeypatch
):
    commands = []

    def run(args, **kwargs):
        commands.append(args[3:])
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(study.subprocess, "run", run)
    columns = study.judged_columns(["skin"], ["action"])
    plan = study.StudyPlan("toy-sprites", None, "cpu", (), "fast", study.KINDS["video"], columns)
    one = study.StudyRun("skd", 0, tmp_path, "toy-sprites")
    assert study._run_one(one, plan, [], 2) is None
    assert [c[:2] for c in commands] == [
        ["train", "skd"], ["judge", "train"], ["evaluate", str(one.folder)],
        ["swap", str(one.folder)],
    ]  # fmt: skip
    assert commands[2][2:4] == ["--metrics", "judge,probes"]
    assert commands[3][2:] == ["--out", str(tmp_path / "swaps" / "skd-seed0.png")]


def test_a_study_refuses_data_it_cannot_judge(tmp_path):
    with pytest.raises(UnweaveError, match="'etth1' is series data"):
        study.run_study(["dbse"], [0], "etth1", tmp_path)
    assert not tmp_path.joinpath("runs").exists()


def test_a_tiny_judged_study_runs_end_to_end_and_reruns_as_a_no_op(
    tmp_path, fresh_cache, monkeypatch
):
    """Two methods x one seed on 16x16 toy sprites (two epochs each), through the same
    processes as `unweave study --data toy-sprites`: the table, the plot, the swap grids,
    the minutes; a second call trains nothing."""
    sizes = ["model.image_size=16", "model.base_channels=8"]
    overrides = [
        *sizes, "data.options.size=16", "data.options.n_train=256", "data.options.n_test=128",
        "train.max_epochs=2", "train.batch_size=32",
    ]  # fmt: skip
    per_method = {
        "dbse": ["model.g_dim=16", "model.f_dim=8", "model.z_dim=8", "model.rnn_size=16"],
        "skd": ["model.k_dim=8", "model.hidden_dim=8", "model.static_size=2"],
    }
    summaries = []
    for method, extra in per_method.items():
        summaries.append(
            study.run_study(
                [method], [0], "toy-sprites", tmp_path / method, overrides=[*overrides, *extra]
            )
        )
    for method, summary in zip(per_method, summaries, strict=True):
        row = summary["table"][method]
        assert 0 <= row["f drawn: action"] <= 1 and row["minutes"] > 0
        assert "leak f->action" in row and "z drawn: skin" in row
        grid = tmp_path / method / summary["swap_grids"][f"{method}-seed0"]
        assert Image.open(grid).format == "PNG"
        table = (tmp_path / method / "study.md").read_text()
        assert f"| {method} | " in table and "f drawn: H(y\\|x)" in table
    log = tmp_path / "skd" / "logs" / "skd-seed0.log"
    before = log.read_text()
    # The training minutes of a finished cell are read from its checkpoint once.
    monkeypatch.setattr(run_module, "read_checkpoint", lambda *a: pytest.fail("read again"))
    again = study.run_study(
        ["skd"], [0], "toy-sprites", tmp_path / "skd",
        overrides=[*overrides, *per_method["skd"]],
    )  # fmt: skip
    assert log.read_text() == before  # nothing ran
    assert again["table"] == summaries[1]["table"]
    assert json.loads((tmp_path / "skd" / "study.json").read_text())["seeds"] == [0]
    # What the repository keeps of a study (.gitignore: records and figures, no weights,
    # checkpoints or logs) reports the same table, minutes included, and trains nothing.
    cell = tmp_path / "skd" / "runs" / "skd-seed0"
    shutil.rmtree(cell / "checkpoints")
    shutil.rmtree(tmp_path / "skd" / "logs")
    (cell / "model.safetensors").unlink()
    kept = study.run_study(
        ["skd"], [0], "toy-sprites", tmp_path / "skd",
        overrides=[*overrides, *per_method["skd"]],
    )  # fmt: skip
    assert kept["table"] == summaries[1]["table"] and not log.exists()
