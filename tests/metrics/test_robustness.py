"""The robustness protocol: a recogniser fitted on clean segments, scored per test condition."""

from __future__ import annotations

import numpy as np
import pytest

from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.metrics.robustness import features_of_segments, robustness_report


def labelled(x: np.ndarray, label: np.ndarray, split: str) -> SeriesData:
    return SeriesData(
        x=x.astype(np.float32),
        mask=np.ones(x.shape, bool),
        feature_names=["a", "b", "c"],
        name="toy",
        split=split,
        static={"digit": label},
    )


def toy(n: int, rng: np.random.Generator, noise: float, split: str) -> SeriesData:
    """Segments (n, 8, 3): a class pattern per label (3 classes) + frame noise."""
    patterns = np.random.default_rng(0).normal(size=(3, 8, 3))
    label = rng.integers(0, 3, n)
    return labelled(patterns[label] + noise * rng.normal(size=(n, 8, 3)), label, split)


def without_c(data: SeriesData, rows: np.ndarray) -> np.ndarray:
    """A representation blind to feature ``c``: features ``a`` and ``b`` flattened."""
    return np.asarray(data.x[rows])[..., :2].reshape(len(rows), -1)


def test_a_representation_blind_to_the_distortion_does_not_lose_under_it() -> None:
    rng = np.random.default_rng(1)
    train = toy(600, rng, 2.0, "train")
    clean = toy(300, rng, 2.0, "test")
    noisy_x = clean.x.copy()
    noisy_x[..., 2] += 10.0 * rng.normal(size=noisy_x.shape[:2])  # only feature c is hit
    noisy = labelled(noisy_x, clean.static["digit"], "test")
    report = robustness_report(
        {"features": features_of_segments, "without c": without_c},
        train,
        {"clean": clean, "noisy": noisy},
    )
    assert set(report["features"]) == {"error:clean", "error:noisy", "rise:noisy"}
    for errors in report.values():
        assert 0 < errors["error:clean"] < 0.3  # the patterns mostly separate when clean
    assert report["features"]["error:noisy"] > 0.3  # the recogniser leans on c too
    assert report["without c"]["error:noisy"] == report["without c"]["error:clean"]
    features = report["features"]
    expected = (features["error:noisy"] - features["error:clean"]) / features["error:clean"]
    assert features["rise:noisy"] == pytest.approx(expected)


def test_conditions_must_hold_the_same_segments() -> None:
    rng = np.random.default_rng(2)
    train, clean = toy(60, rng, 0.5, "train"), toy(30, rng, 0.5, "test")
    other = toy(30, rng, 0.5, "test")
    with pytest.raises(UnweaveError, match="'noisy' has 30 segments or other labels"):
        robustness_report({"f": features_of_segments}, train, {"clean": clean, "noisy": other})
    with pytest.raises(UnweaveError, match="No test conditions"):
        robustness_report({"f": features_of_segments}, train, {})
    unlabelled = labelled(clean.x, clean.static["digit"], "test")
    unlabelled.static.clear()
    with pytest.raises(UnweaveError, match=r"'clean' has no static\['digit'\]"):
        robustness_report({"f": features_of_segments}, train, {"clean": unlabelled})
