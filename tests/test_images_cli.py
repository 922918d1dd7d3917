"""Ground-truth images through the common commands: train, traverse, the metrics, the study."""

from __future__ import annotations

import json
import sys
import warnings
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import unweave
from unweave import engines, study
from unweave.cli import main
from unweave.data import dsprites
from unweave.data.registry import load_data
from unweave.errors import UnweaveError
from unweave.metrics.images import ground_truth_report

TINY_GRID = (1, 3, 2, 3, 4, 5)  # 360 images: the leading values of each dSprites factor


@pytest.fixture
def tiny_dsprites(monkeypatch, fresh_cache) -> None:
    monkeypatch.setattr(dsprites, "FACTOR_SIZES", TINY_GRID)
    monkeypatch.setattr(dsprites, "BLOCK", 64)


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run ``unweave ARGS`` in this process (so the tiny grid applies): exit code, output."""
    monkeypatch.setattr(sys, "argv", ["unweave", *args])
    code = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main()
        except SystemExit as exited:
            code = int(exited.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("method", ["beta-vae", "factor-vae", "did"])
def test_each_method_trains_on_dsprites_and_traverses(
    method, tiny_dsprites, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    sets = ["--set", "train.max_steps=12", "--set", "train.batch_size=16"]
    code, out = cli(monkeypatch, capsys, "train", method, "--data", "dsprites", *sets)
    assert code == 0, out
    run = tmp_path / "runs" / f"{method}-dsprites-cpu"
    info = json.loads((run / "config.json").read_text())
    assert info["modality"] == "images" and info["data"]["factor_sizes"] == [3, 2, 3, 4, 5]
    model = unweave.load(run).model
    assert model.representation(torch.rand(2, 1, 64, 64)).shape == (2, 10)
    code, out = cli(monkeypatch, capsys, "traverse", str(run), "--n", "2")
    assert code == 0, out
    assert Image.open(run / "traversal.png").format == "PNG"


def test_the_metrics_of_an_image_model(tiny_dsprites, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = cli(
        monkeypatch, capsys, "train", "beta-vae", "--data", "dsprites",
        "--set", "train.max_steps=5", "--set", "train.batch_size=16",
    )  # fmt: skip
    assert code == 0, out
    model = unweave.load(tmp_path / "runs" / "beta-vae-dsprites-cpu").model
    data = load_data("dsprites", "test")
    report = ground_truth_report(model, data, preset="fast", metrics=("mig", "sap"))
    assert set(report) == {"mig", "sap"} and all(0 <= v <= 1 for v in report.values())
    with pytest.raises(UnweaveError, match="Unknown metric 'migg'"):
        ground_truth_report(model, data, metrics=("migg",))


IMAGE_STUDY = (study.KINDS["images"], study.COLUMNS)


def fake_run_one(run, *args) -> str | None:
    """Stands in for training and evaluating: writes the run's model and eval.json."""
    if run.method == "broken":
        return f"{run.name}: 'unweave train' failed (exit 2); see {run.log}"
    run.folder.mkdir(parents=True, exist_ok=True)
    (run.folder / "model.safetensors").write_text("")
    scores = {key: 0.1 * run.seed + (0.5 if run.method == "b" else 0.2) for key in study.COLUMNS}
    (run.folder / "eval.json").write_text(json.dumps(scores))
    return None


def test_the_study_aggregates_over_seeds_and_skips_finished_runs(tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(
        study, "_run_one", lambda run, *a: calls.append(run.name) or fake_run_one(run)
    )
    monkeypatch.setattr(study, "_check_settings", lambda *a: IMAGE_STUDY)
    summary = study.run_study(["a", "b"], [0, 1, 2], "dsprites", tmp_path)
    assert calls == [f"{m}-seed{s}" for s in (0, 1, 2) for m in "ab"]  # seed-major
    row = summary["table"]["b"]
    assert row["MIG"] == pytest.approx(0.6) and row["MIG_std"] == pytest.approx(0.1)
    table = (tmp_path / "study.md").read_text()
    assert "| b | 0.600 ± 0.100 |" in table and table.count(" | 3 |") == 2
    assert Image.open(tmp_path / "study.png").format == "PNG"
    calls.clear()
    study.run_study(["a", "b"], [0, 1, 2], "dsprites", tmp_path)  # all done: nothing reruns
    assert calls == []
    with pytest.raises(UnweaveError, match="1 run.s. failed; first: broken-seed0"):
        study.run_study(["broken"], [0], "dsprites", tmp_path)


def test_parallel_study_runs_share_the_cores_and_say_so(tmp_path, monkeypatch, capsys) -> None:
    threads = []
    monkeypatch.setattr(
        study, "_run_one", lambda run, *a: threads.append(a[-1]) or fake_run_one(run)
    )
    monkeypatch.setattr(study, "_check_settings", lambda *a: IMAGE_STUDY)
    monkeypatch.setattr(engines.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    study.run_study(["a", "b"], [0, 1], "dsprites", tmp_path, jobs=4)
    assert threads == [2, 2, 2, 2]  # 8 cores / 4 jobs
    said = capsys.readouterr()
    assert (
        "4 run(s) at a time, each with 2 torch thread(s) (OMP_NUM_THREADS)" in said.out + said.err
    )


def test_a_study_with_curves_keeps_and_scores_checkpoints(tmp_path, monkeypatch) -> None:
    kept = {}

    def run_one(run, plan, steps, threads):
        kept[run.name] = steps
        fake_run_one(run)
        (run.folder / "evals").mkdir()
        for step in [*steps, 3000]:  # the kept checkpoints and the last
            scores = {key: run.seed + step / 1000 for key in study.COLUMNS}
            row = {"step": step, "elapsed_s": step / 10 + run.seed, **scores}
            (run.folder / "evals" / f"step-{step}.json").write_text(json.dumps(row))

    monkeypatch.setattr(study, "_run_one", run_one)
    summary = study.run_study(
        ["beta-vae"], [0, 1], "dsprites", tmp_path, metric_preset="fast", curve_points=3
    )
    assert kept == {"beta-vae-seed0": [750, 1500], "beta-vae-seed1": [750, 1500]}
    mig = summary["curves"]["MIG"]["beta-vae"]  # the mean over seeds 0 and 1
    assert [p["step"] for p in mig] == [750, 1500, 3000]
    assert mig[0]["value"] == pytest.approx(1.25) and mig[0]["std"] == pytest.approx(0.7071, 1e-3)
    assert mig[-1]["minutes"] == pytest.approx((300 + 301) / 2 / 60)
    assert Image.open(tmp_path / "curves" / "MIG.png").format == "PNG"
    with pytest.raises(UnweaveError, match="train.max_steps, which beta-vae's 'cpu' run"):
        study.run_study(
            ["beta-vae"], [0], "dsprites", tmp_path / "s", overrides=["train.max_steps=-1"],
            curve_points=3,
        )  # fmt: skip


def test_a_study_run_keeps_its_steps_and_scores_them(tmp_path, monkeypatch) -> None:
    commands = []
    monkeypatch.setattr(
        study.subprocess, "run",
        lambda args, **kw: commands.append(args[3:]) or SimpleNamespace(returncode=0),
    )  # fmt: skip
    run = study.StudyRun("did", 1, tmp_path, "dsprites")
    plan = study.StudyPlan("dsprites", None, "cpu", (), "fast", *IMAGE_STUDY)
    assert study._run_one(run, plan, [300, 600], 2) is None
    train, final, checkpoints = commands
    assert train[:2] == ["train", "did"] and "train.keep_checkpoints_at=[300,600]" in train
    assert final == ["evaluate", str(run.folder), "--metrics", "classic", "--metric-preset",
                     "fast", "--seed", "1"]  # fmt: skip
    assert checkpoints == [*final, "--checkpoints", "all"]


def test_a_study_reports_its_finished_runs_without_training(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(study, "_check_settings", lambda *a: IMAGE_STUDY)
    monkeypatch.setattr(study, "_run_one", lambda *a: pytest.fail("report_only trained a run"))
    with pytest.raises(UnweaveError, match="No run of this study .* has finished yet"):
        study.run_study(["a", "b"], [0, 1], "dsprites", tmp_path, report_only=True)
    for method, seed in [("a", 0), ("a", 1), ("b", 0)]:
        fake_run_one(study.StudyRun(method, seed, tmp_path))
    summary = study.run_study(["a", "b"], [0, 1], "dsprites", tmp_path, report_only=True)
    assert summary["seeds_per_method"] == {"a": 2, "b": 1} and summary["unfinished"] == 1
    assert summary["table"]["a"]["MIG"] == pytest.approx(0.25)
    table = (tmp_path / "study.md").read_text()
    assert "| b | 0.500 ± 0.000 |" in table and "1 run(s) of the study are not finished" in table


def test_the_study_checks_its_settings_before_any_run(tmp_path, monkeypatch, capsys) -> None:
    code, out = cli(monkeypatch, capsys, "study", "--data", "etth1", "--out", str(tmp_path))
    assert (
        code == 2 and "or on labelled video (sprites, toy-sprites); 'etth1' is series data" in out
    )
    code, out = cli(
        monkeypatch, capsys, "study", "--methods", "beta-vea", "--out", str(tmp_path / "s")
    )
    assert code == 2 and "Unknown method 'beta-vea'" in out
    assert not (tmp_path / "s").exists()
    code, out = cli(monkeypatch, capsys, "study", "--seeds", "0,x", "--out", str(tmp_path))
    assert code == 2 and "--seeds is '0,x'; expected comma-separated integers" in out


def test_data_build_names_the_factors(tiny_dsprites, monkeypatch, capsys) -> None:
    code, out = cli(monkeypatch, capsys, "data", "build", "dsprites")
    assert code == 0, out
    assert "dsprites/train: 360 of shape (1, 64, 64); shape (3), scale (2), orientation (3)" in out
