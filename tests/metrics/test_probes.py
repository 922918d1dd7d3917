"""Probes and per-code mutual information on codes with known answers."""

import numpy as np
import pytest

from unweave.metrics.probes import mutual_information_report, probe_accuracy, probe_solver


def test_mutual_information_report_known_answers():
    rng = np.random.default_rng(0)
    colour, action = rng.integers(0, 6, 2000), rng.integers(0, 9, 2000)
    factors = np.stack([colour, action], 1)
    codes = {
        "static": np.stack([colour + 0.01 * rng.normal(size=2000), rng.normal(size=2000)], 1),
        "dynamic": rng.normal(size=(2000, 4, 2)),  # independent of both factors
    }
    report = mutual_information_report(codes, ["colour", "action"], factors)
    assert report["mi/static->colour"] == pytest.approx(1.0, abs=0.02)
    assert report["mi/static->action"] < 0.05
    assert report["mi/dynamic->colour"] < 0.05 and report["mi/dynamic->action"] < 0.05


def test_probe_accuracy_separable_and_random():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 600)
    informative = np.eye(3)[labels] + 0.05 * rng.normal(size=(600, 3))
    assert probe_accuracy(informative[:400], labels[:400], informative[400:], labels[400:]) == 1.0
    noise = rng.normal(size=(600, 3))
    assert probe_accuracy(noise[:400], labels[:400], noise[400:], labels[400:]) < 0.5


def test_a_probe_of_many_classes_fits_without_a_newton_hessian():
    """1,000 classes from 128 numbers (Two-Step's Sprites characters): Newton's Hessian would
    be 129,000 x 129,000; the probe uses L-BFGS and still separates separable classes."""
    assert probe_solver(128, 1000) == "lbfgs"
    assert probe_solver(128, 9) == probe_solver(128, 2) == "newton-cholesky"
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(200, 128))
    labels = np.tile(np.arange(200), 4)
    codes = centres[labels] + 0.05 * rng.normal(size=(800, 128))
    assert probe_solver(128, 200) == "lbfgs"
    assert probe_accuracy(codes[:600], labels[:600], codes[600:], labels[600:]) == 1.0


def test_nan_codes_are_refused_with_a_count():
    import torch
    from helpers import random_clips

    from unweave.errors import UnweaveError
    from unweave.metrics.probes import encode_dataset
    from unweave.models import build_model

    model = build_model(
        "dbse", dict(image_size=16, base_channels=8, g_dim=32, f_dim=16, z_dim=8, rnn_size=16)
    ).eval()
    with torch.no_grad():
        model.static_head.mean.bias.fill_(float("nan"))
    with pytest.raises(UnweaveError, match="NaN or infinite static codes for 10 of 10 clips"):
        encode_dataset(model, random_clips(n=10))


def untrained_series_model_and_data() -> tuple:
    """An untrained series DBSE of 2 windows and synthetic train (120) / test (80) series."""
    import torch

    from unweave.data.synthetic_series import make_synthetic_series
    from unweave.models import build_model

    settings = {"n_features": 4, "window": 24, "n_windows": 2, "static_window": 0}
    torch.manual_seed(0)
    model = build_model("dbse", settings, "series")
    train = make_synthetic_series(120, n_windows=2, seed=1)
    return model, train, make_synthetic_series(80, n_windows=2, seed=2, split="test")


def test_series_probes_leave_out_unknown_labels() -> None:
    """Rows labelled -1 (PhysioNet's missing ICU type) count neither in fits nor in chance."""
    from unweave.metrics.probes import series_probe_report

    model, train, test = untrained_series_model_and_data()
    known = test.static["level"].copy()
    test.static["level"][::2] = -1
    report = series_probe_report(model, train, test)
    kept = known[1::2]
    assert report["chance:level"] == pytest.approx(np.bincount(kept).max() / len(kept))
    assert set(report) >= {"static->level", "dynamic->level", "static->regime", "mse"}


def test_window_majority_reads_each_window_of_step_labels() -> None:
    from unweave.metrics.probes import window_majority

    steps = np.array([[0, 0, 1, 2, 2, 1, -1, -1, -1], [1, -1, -1, 0, 1, 1, 2, -1, 2]])
    np.testing.assert_array_equal(window_majority(steps, 3), [[0, 2, -1], [1, 1, 2]])


def test_series_probes_read_step_labels_per_window() -> None:
    """A per-step label equal to the regime of each window is probed like the regime."""
    from unweave.metrics.probes import series_probe_report

    model, train, test = untrained_series_model_and_data()
    for data in (train, test):
        data.dynamic["trend"] = np.repeat(data.targets["regime"], 24, axis=1)
        data.dynamic["trend"][:, 1:24] = -1  # unknown steps do not change a window's label
    report = series_probe_report(model, train, test)
    for code in ("static", "dynamic"):
        assert report[f"{code}->trend"] == report[f"{code}->regime"]
    assert report["chance:trend"] == report["chance:regime"]
