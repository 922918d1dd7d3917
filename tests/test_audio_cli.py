"""The `unweave` command on speech: train DBSE and FHVAE, evaluate EERs, render swaps."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image
from test_series_cli import finish, run_cli, sets, start_cli

import unweave
from unweave.cli import main

TINY_DATA = ["data.options.n_speakers=3", "data.options.utterances_per_speaker=4"]
TINY_MODELS = {
    "dbse": ["model.encoder_hidden=16", "model.g_dim=16", "model.f_dim=8", "model.z_dim=8"],
    "fhvae": ["model.rnn_size=16", "model.z1_dim=4", "model.z2_dim=4", "model.n_mu2=6"],
    "beta-vae": ["model.rnn_size=16", "model.z_dim=4", "model.beta=4"],
    "c-dsvae": ["model.encoder_hidden=16", "model.g_dim=16", "model.f_dim=8", "model.z_dim=8",
                "model.hidden_dim=16", "model.rnn_size=16"],
    "spyl": ["model.encoder_hidden=16", "model.g_dim=16", "model.f_dim=8", "model.z_dim=8",
             "model.hidden_dim=16", "model.rnn_size=16", "model.negatives=8"],
    "skd": ["model.encoder_hidden=16", "model.k_dim=8", "model.hidden_dim=8",
            "model.static_size=2"],
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Tiny runs of every speech method on synthetic speech (3 + 3 speakers), trained side
    by side."""
    folder = tmp_path_factory.mktemp("audio-cli")
    processes = [
        start_cli(
            *("train", method, "--data", "synthetic-speech", "--name", method),
            *("--runs-dir", str(folder / "runs")),
            *sets(*TINY_DATA, *TINY_MODELS[method], "train.max_epochs=2", "train.batch_size=8"),
            cwd=folder,
        )
        for method in TINY_MODELS
    ]
    for process in processes:
        result = finish(process)
        assert result.returncode == 0, result.stderr[-2000:]
    return folder / "runs"


@pytest.mark.parametrize(
    ("method", "features"),
    [("dbse", 201), ("fhvae", 80), ("c-dsvae", 201), ("spyl", 201), ("skd", 201)],
)
def test_train_writes_a_speech_model_that_loads(runs, method, features) -> None:
    info = json.loads((runs / method / "config.json").read_text())
    assert info["modality"] == "audio" and info["method"] == method
    model = unweave.load(runs / method).model
    assert model.config.n_features == features  # set from the data: STFT or log-mel bins
    x = torch.randn(2, 20, features)
    latents = model.encode(x)
    assert latents.static.mean.shape[0] == 2 and torch.isfinite(latents.static.mean).all()


def test_fhvae_knows_its_training_sequences(runs) -> None:
    model = unweave.load(runs / "fhvae").model
    assert model.config.n_sequences == 12  # 3 speakers x 4 utterances
    counts = model.sequence_lengths
    assert counts.shape == (12,) and (counts >= 1).all()


@pytest.mark.parametrize("method", ["dbse", "fhvae", "c-dsvae", "spyl", "skd"])
def test_evaluate_writes_eers_and_the_content_probe(runs, tmp_path, method) -> None:
    run = runs / method
    result = run_cli("evaluate", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run / "eval.json").read_text())
    for key in ("eer_static", "eer_dynamic", "eer_mfcc_mean"):
        assert 0 <= report[f"verification/{key}"] <= 1, key
    assert report["verification/n_test_speakers"] == 3
    assert report["verification/n_pairs"] == 12 * 11 // 2
    assert 0 <= report["content/dynamic->digit"] <= 1


def test_swap_writes_audible_wavs_and_spectrograms(runs, tmp_path) -> None:
    run = runs / "dbse"
    result = run_cli("swap", str(run), "--n", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    wavs = sorted((run / "swaps").glob("*.wav"))
    assert len(wavs) == 6  # per pair: both sources and the swap
    wave, rate = soundfile.read(wavs[0])
    assert rate == 16000 and len(wave) > 1600 and np.abs(wave).max() > 1e-3
    image = Image.open(run / "swaps" / "audio-swaps.png")
    assert image.format == "PNG" and min(image.size) > 100


def test_the_segment_beta_vae_is_scored_by_its_one_code_and_has_nothing_to_swap(
    runs, tmp_path, capsys, monkeypatch
) -> None:
    run = runs / "beta-vae"
    assert json.loads((run / "config.json").read_text())["method"] == "beta-vae"
    result = run_cli("evaluate", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run / "eval.json").read_text())
    assert 0 <= report["verification/eer_dynamic"] <= 1
    assert "verification/eer_static" not in report and "content/static->digit" not in report
    assert 0 <= report["content/dynamic->digit"] <= 1
    code, err = invoke(capsys, monkeypatch, "swap", str(run))
    assert code == 2
    assert err.strip() == (
        "error: SegmentVAE has one code per segment and no static code; a speaker swap needs "
        "one (train fhvae or dbse)."
    )
    assert not (run / "swaps").exists()


def invoke(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["unweave", *args])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


def test_a_wav_that_is_not_audio_stops_training_before_anything_is_written(
    tmp_path, capsys, monkeypatch
) -> None:
    recordings = tmp_path / "fsdd" / "recordings"
    recordings.mkdir(parents=True)
    (recordings / "3_ann_7.wav").write_text("not a sound")
    monkeypatch.chdir(tmp_path)
    args = ["train", "fhvae", "--data", "fsdd", "--root", str(tmp_path / "fsdd")]
    code, err = invoke(capsys, monkeypatch, *args, "--runs-dir", str(tmp_path / "runs"))
    assert code == 2
    last = err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("error: ") and "3_ann_7.wav: not readable as audio" in last
    assert not (tmp_path / "runs").exists()


def test_video_metrics_on_a_speech_run_are_an_error(runs, capsys, monkeypatch) -> None:
    code, err = invoke(capsys, monkeypatch, "evaluate", str(runs / "dbse"), "--metrics", "judge")
    assert code == 2
    assert err.strip() == (
        "error: Unknown metric group 'judge' for audio models; expected some of: "
        "verification, content."
    )


def test_hierarchical_sampling_trains_each_epoch_on_its_block(tmp_path, one_thread) -> None:
    """With n_mu2 > 0 the mu2 table has n_mu2 rows; each epoch loads a new block of sequences
    and its loader serves only that block's segments."""
    from lightning.pytorch.callbacks import Callback

    from unweave.training.config import resolve
    from unweave.training.run import train

    seen: list[set[int]] = []

    class RecordSequences(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            if batch_idx == 0:
                seen.append(set())
            seen[-1].update(batch["sequence"].tolist())

    overrides = [*TINY_DATA, *TINY_MODELS["fhvae"], "model.n_mu2=4", "train.batch_size=2"]
    config = resolve(
        "fhvae", "synthetic-speech", "cpu", overrides=[*overrides, "train.max_epochs=3"]
    )
    run = train(config, tmp_path / "run", extra_callbacks=[RecordSequences()])
    model = unweave.load(run).model
    assert model.mu2_table.shape == (4, 4)
    blocks = [set(model.block_sequences(epoch, config["train"]["seed"])) for epoch in range(3)]
    assert seen == blocks  # every epoch trained on exactly its block
    assert len({frozenset(b) for b in blocks}) > 1  # and the blocks change
    assert set(np.flatnonzero(model.table_rows.numpy() >= 0)) == blocks[-1]
    # The table diagnostics are logged once an epoch, against ln(rows) of a uniform guess.
    from unweave.viz.plots import read_metrics_csv

    series = read_metrics_csv(run / "metrics.csv")
    for name in ("table_std", "ce_table", "ce_mu2_star", "ln_rows", "z2_spread"):
        assert len(series[f"diag/{name}"][1]) == 3, name
    assert np.allclose(series["diag/ln_rows"][1], np.log(4))
