"""Downstream protocols: task lookup, the raw features, and each protocol's known answers.

Oracle representations read the answer off the series itself (so they pass through the
protocols exactly like a model would); noise representations carry nothing. Each protocol
must separate the two.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from unweave.data.synthetic_series import LEVELS, make_synthetic_series
from unweave.data.timeseries import SeriesData
from unweave.downstream import (
    TASKS,
    _last_window,
    format_results,
    get_task,
    model_representation,
    raw_representation,
    run_task,
    tasks_for,
)
from unweave.errors import UnweaveError
from unweave.models import build_model


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The heads are tiny: with a second busy process on a 2-core machine, torch's intra-op
    threads spin-wait on each other and the protocols run ~30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------- tasks


def test_tasks_for_each_data_set() -> None:
    assert tasks_for("synthetic-series") == ["level", "family"]
    assert tasks_for("physionet") == ["mortality", "icu-type"]
    assert tasks_for("etth2") == ["etth1-ot"]
    assert tasks_for("toy-sprites") == []
    assert get_task("etth1-ot", "etth2") is TASKS["etth1-ot"]


def test_unknown_task_is_an_error_naming_it() -> None:
    with pytest.raises(UnweaveError, match="Unknown task 'nope'; expected one of: etth1-ot"):
        get_task("nope", "etth1")


def test_task_on_the_wrong_data_is_an_error_naming_task_and_data() -> None:
    with pytest.raises(UnweaveError) as err:
        get_task("mortality", "synthetic-series")
    message = str(err.value)
    assert "Task 'mortality' needs data physionet" in message
    assert "not 'synthetic-series'" in message
    assert "tasks for 'synthetic-series': level, family" in message
    with pytest.raises(UnweaveError, match="tasks for 'toy-sprites': none"):
        get_task("level", "toy-sprites")


# ---------------------------------------------------------------------------- raw features


def test_raw_features_are_observed_mean_std_and_masked_windows() -> None:
    # 2 series, 4 steps (2 windows of 2), 2 features
    x = torch.tensor(
        [
            [[1.0, 5.0], [2.0, 7.0], [3.0, 9.0], [100.0, 11.0]],
            [[4.0, 1.0], [4.0, 1.0], [4.0, 1.0], [4.0, 1.0]],
        ]
    )
    mask = torch.tensor(
        [
            [[True, False], [True, True], [True, False], [False, True]],
            [[False, True], [False, True], [False, True], [False, True]],
        ]
    )
    static, dynamic = raw_representation(window=2)(x, mask)
    # series 0: feature 0 observes 1, 2, 3 -> mean 2, std sqrt(2/3); feature 1 observes 7, 11
    # -> mean 9, std 2. Series 1: feature 0 never observed -> 0, 0; feature 1 -> 1, 0.
    expected = torch.tensor([[2.0, 9.0, (2 / 3) ** 0.5, 2.0], [0.0, 1.0, 0.0, 0.0]])
    torch.testing.assert_close(static, expected)
    assert dynamic.shape == (2, 2, 4)  # (B, W, window * F)
    torch.testing.assert_close(
        dynamic[0], torch.tensor([[1.0, 0.0, 2.0, 7.0], [3.0, 0.0, 0.0, 11.0]])
    )
    torch.testing.assert_close(dynamic[1], torch.tensor([[0.0, 1.0, 0.0, 1.0]] * 2))


def test_last_observed_window() -> None:
    mask = torch.zeros(4, 6, 2, dtype=torch.bool)  # 3 windows of 2 steps
    mask[0, :4] = True  # windows 0 and 1
    mask[1, 5, 1] = True  # one cell in window 2
    mask[2, 0, 0] = True  # window 0 only
    mask[2, 2, 1] = True  # ... and a cell of window 1
    # series 3: nothing observed -> 0
    assert _last_window(mask, 3).tolist() == [1, 2, 1, 0]
    assert _last_window(mask, 1).tolist() == [0, 0, 0, 0]


def test_model_representation_samples_both_codes() -> None:
    small = {"n_features": 4, "window": 6, "n_windows": 3, "static_window": 0}
    torch.manual_seed(0)
    x = torch.randn(5, 18, 4)
    mask = torch.ones_like(x, dtype=torch.bool)
    represent = model_representation(build_model("dbse", small, "series"))
    static, dynamic = represent(x, mask)
    assert static.shape == (5, 8) and dynamic.shape == (5, 3, 8)
    again, _ = represent(x, mask)
    assert not torch.equal(static, again)  # posterior samples, drawn afresh
    static, dynamic = model_representation(build_model("seqvae", small, "series"))(x, mask)
    assert static is None and dynamic.shape == (5, 3, 16)


# ---------------------------------------------------------------------------- static class


def level_oracle(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot of the synthetic ``level`` (the series mean is the offset) as -1/+1, plus small
    noise. (A 0/1 one-hot trains less reliably: the head's hidden layer has only C ReLU units,
    and a class whose units all start below zero never gets a gradient.)"""
    level = (x.mean((1, 2))[:, None] - torch.tensor(LEVELS)[None]).abs().argmin(1)
    static = 2 * torch.nn.functional.one_hot(level, len(LEVELS)).float() - 1
    return static + 0.05 * torch.randn_like(static), torch.randn(len(x), 10, 2)


def noise(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(len(x), 4), torch.randn(len(x), 10, 2)


@pytest.fixture(scope="module")
def synthetic() -> tuple[SeriesData, SeriesData]:
    return make_synthetic_series(400, seed=1), make_synthetic_series(200, seed=2, split="test")


def test_the_level_oracle_is_exact(synthetic) -> None:
    for data in synthetic:
        static, _ = level_oracle(torch.from_numpy(data.x), torch.from_numpy(data.mask))
        assert np.array_equal(static.argmax(1).numpy(), data.static["level"])


def test_static_class_separates_an_oracle_from_noise(synthetic) -> None:
    train, test = synthetic
    task = dataclasses.replace(TASKS["level"], epochs=30, runs=1)
    oracle = run_task(task, level_oracle, train, test, progress=False)
    assert oracle["task"] == "level" and oracle["runs"] == 1
    assert oracle["accuracy"]["mean"] >= 0.95
    assert oracle["valid_accuracy"]["mean"] >= 0.95
    chance = np.bincount(test.static["level"]).max() / len(test)
    assert oracle["chance"]["mean"] == pytest.approx(chance)
    assert 0.25 <= chance < 0.35
    random = run_task(task, noise, train, test, progress=False)
    assert random["accuracy"]["mean"] < 0.5


def test_static_class_skips_unlabelled_series(synthetic) -> None:
    train, test = synthetic
    labels = train.static["level"].copy()
    labels[::2] = -1  # half the training series have no label
    train = dataclasses.replace(train, static={**train.static, "level": labels})
    task = dataclasses.replace(TASKS["level"], epochs=30, runs=1)
    assert run_task(task, level_oracle, train, test, progress=False)["accuracy"]["mean"] >= 0.95


# ---------------------------------------------------------------------------- window regression


def ot_series(n: int, seed: int, n_windows: int = 6, window: int = 4) -> SeriesData:
    """Feature 0 holds the window's target in every step; feature 1 is noise."""
    rng = np.random.default_rng(seed)
    target = rng.uniform(1.0, 9.0, (n, n_windows)).astype(np.float32)
    x = rng.normal(size=(n, n_windows * window, 2)).astype(np.float32)
    x[:, :, 0] = np.repeat(target, window, axis=1)
    return SeriesData(
        x=x,
        mask=np.ones(x.shape, dtype=bool),
        feature_names=["ot", "other"],
        name="etth1",
        split="train",
        targets={"OT_daily": target},
    )


def ot_oracle(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dynamic = x[:, :, 0].reshape(len(x), 6, 4).mean(-1, keepdim=True)  # the target itself
    return torch.randn(len(x), 2), dynamic


def ot_noise(x: torch.Tensor, mask: torch.Tensor) -> tuple[None, torch.Tensor]:
    return None, torch.randn(len(x), 6, 1)


def test_window_regression_separates_an_oracle_from_noise() -> None:
    train, test = ot_series(120, seed=0), ot_series(60, seed=1)
    task = dataclasses.replace(TASKS["etth1-ot"], epochs=40, runs=1)
    oracle = run_task(task, ot_oracle, train, test, progress=False)["mae"]["mean"]
    random = run_task(task, ot_noise, train, test, progress=False)["mae"]["mean"]
    # the best constant guess (the median) is off by 2 on average for uniform(1, 9)
    assert random > 1.5
    assert oracle < 0.5 and oracle < random / 4


# ---------------------------------------------------------------------------- sequence binary


def death_series(n: int, seed: int) -> SeriesData:
    """Feature 0 is +1 for every observed step of a death and -1 otherwise; some windows at
    the end are unobserved."""
    rng = np.random.default_rng(seed)
    death = (np.arange(n) % 3 == 0).astype(np.int64)
    rng.shuffle(death)
    x = rng.normal(size=(n, 20, 2)).astype(np.float32)  # 5 windows of 4 steps
    x[:, :, 0] = np.where(death[:, None] == 1, 1.0, -1.0)
    mask = np.ones(x.shape, dtype=bool)
    for i, stop in enumerate(rng.integers(1, 6, n)):
        mask[i, stop * 4 :] = False
    x[~mask] = 0.0
    return SeriesData(
        x=x,
        mask=mask,
        feature_names=["sign", "other"],
        name="physionet",
        split="train",
        targets={"in_hospital_death": death},
    )


def death_oracle(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    static = x[:, :1, 0] + 0.3 * torch.randn(len(x), 1)
    return static, torch.randn(len(x), 5, 3)


def death_noise(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(len(x), 1), torch.randn(len(x), 5, 3)


def test_sequence_binary_separates_an_oracle_from_noise() -> None:
    train, test = death_series(150, seed=0), death_series(90, seed=1)
    task = dataclasses.replace(TASKS["mortality"], epochs=10, runs=1)
    oracle = run_task(task, death_oracle, train, test, progress=False)
    assert set(oracle) == {"task", "runs", "auroc", "auprc"}
    for key in ("auroc", "auprc"):
        assert set(oracle[key]) == {"mean", "std", "values"}
        assert len(oracle[key]["values"]) == 1 and oracle[key]["std"] == 0.0
    assert oracle["auroc"]["mean"] >= 0.9
    assert oracle["auprc"]["mean"] >= 0.8  # a third of the series are deaths
    random = run_task(task, death_noise, train, test, progress=False)
    assert random["auroc"]["mean"] < 0.75


def test_sequence_binary_needs_both_outcomes_in_test() -> None:
    train, test = death_series(40, seed=0), death_series(20, seed=1)
    test.targets["in_hospital_death"][:] = 0
    task = dataclasses.replace(TASKS["mortality"], epochs=1, runs=1)
    with pytest.raises(UnweaveError, match="single in_hospital_death value"):
        run_task(task, death_noise, train, test, progress=False)


# ---------------------------------------------------------------------------- repetitions


def test_runs_are_summarised_by_mean_and_std(synthetic) -> None:
    train, test = synthetic
    task = dataclasses.replace(TASKS["family"], epochs=1, passes=1)
    summary = run_task(task, noise, train, test, runs=2, seed=3, progress=False)
    assert summary["runs"] == 2
    values = summary["accuracy"]["values"]
    assert len(values) == 2
    assert summary["accuracy"]["mean"] == pytest.approx(np.mean(values))
    assert summary["accuracy"]["std"] == pytest.approx(np.std(values))
    # seeds 3 and 4: the same seed again gives the same first value
    again = run_task(task, noise, train, test, runs=1, seed=3, progress=False)
    assert again["accuracy"]["values"] == values[:1]
    table = format_results({"noise": summary})
    assert "noise" in table and "family" in table
    accuracy = summary["accuracy"]
    assert f"{accuracy['mean']:.3f} ± {accuracy['std']:.3f}" in table


def test_runs_must_be_positive(synthetic) -> None:
    train, test = synthetic
    with pytest.raises(UnweaveError, match="runs is 0; expected at least 1"):
        run_task(TASKS["level"], noise, train, test, runs=0, progress=False)
