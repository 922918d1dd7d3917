"""Robustness of a content recogniser to mismatch: FHVAE's Aurora-4 protocol, on segments.

FHVAE's robustness claim (Hsu, Zhang & Glass 2017; the Aurora-4 table of its slides) trains
a recogniser on clean speech from one representation (FBank, a VAE's z, FHVAE's z1) and
tests it on clean, noisy, channel-distorted and noisy + channel speech: the better
representation loses less when the test conditions differ from training. Here the
recogniser is a standardised multinomial logistic regression of each segment's label
(``static[factor]``, the spoken digit) fitted on the clean training segments, and the test
conditions are the test split built with :class:`~unweave.data.conditions.TestCondition`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError

#: A representation: (data, rows ``(n,)``) -> one vector per segment ``(n, D)``.
Representation = Callable[[SeriesData, np.ndarray], np.ndarray]


def features_of_segments(data: SeriesData, rows: np.ndarray) -> np.ndarray:
    """The segments' own (normalised) features, flattened: ``(n, T * F)``."""
    return np.asarray(data.x[rows], dtype=np.float32).reshape(len(rows), -1)


def robustness_report(
    representations: dict[str, Representation],
    train: SeriesData,
    conditions: dict[str, SeriesData],
    factor: str = "digit",
    max_train: int | None = 8000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per representation: the recogniser's error on each condition, and its relative rise.

    ``conditions`` maps a name to a test split; the first is the reference (clean) and all
    must hold the same segments (the same count and labels: a condition changes the sound,
    not the segmentation). The recogniser is fitted once per representation on at most
    ``max_train`` training segments (drawn with ``seed``). Returns
    ``{representation: {"error:<condition>": error, "rise:<condition>": relative increase
    over the first condition's error, for every other condition}}``.
    """
    if not conditions:
        raise UnweaveError("No test conditions given; expected the clean test split first.")
    names = list(conditions)
    reference = conditions[names[0]]
    for name, data in conditions.items():
        if factor not in data.static:
            raise UnweaveError(f"Test condition '{name}' has no static['{factor}'] labels.")
        if len(data) != len(reference) or not np.array_equal(
            data.static[factor], reference.static[factor]
        ):
            raise UnweaveError(
                f"Test condition '{name}' has {len(data)} segments or other labels than "
                f"'{names[0]}' ({len(reference)}); expected the same segments under another "
                "condition."
            )
    if factor not in train.static:
        raise UnweaveError(f"{train.name}/{train.split} has no static['{factor}'] labels.")
    rows = np.arange(len(train))
    if max_train is not None and len(train) > max_train:
        rows = np.sort(np.random.default_rng(seed).choice(len(train), max_train, replace=False))
    labels = np.asarray(train.static[factor])[rows]
    test_rows = np.arange(len(reference))
    report = {}
    for rep_name, represent in representations.items():
        recogniser = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        recogniser.fit(represent(train, rows), labels)
        errors = {
            name: 1.0 - float(recogniser.score(represent(data, test_rows), data.static[factor]))
            for name, data in conditions.items()
        }
        clean = errors[names[0]]
        report[rep_name] = {
            **{f"error:{name}": error for name, error in errors.items()},
            **{
                f"rise:{name}": (errors[name] - clean) / clean if clean > 0 else float("inf")
                for name in names[1:]
            },
        }
    return report
