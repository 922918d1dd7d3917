"""Synthetic multivariate series with known static and dynamic factors; no files needed.

Each series has F >= 4 features over ``n_windows`` windows of ``window`` steps:
``x[t, k] = LEVELS[level] + 1.5 * PATTERNS[family][k] + SLOPES[regime_w] * r(t) + noise``,
with ``r`` rising from -1 to 1 across each window and noise of std 0.1. Static factors, fixed
for the whole series: ``level`` (an offset shared by the features, 4 values) and ``family``
(a signed profile across the features: alternating, first half against second half, or
outer against inner). Dynamic factor, one value per window: ``regime`` (the window's trend:
falling, flat or rising), kept in ``targets["regime"]`` ``(N, W)``. Every factor shows in
every window, so the static code can read the static factors from one window and the dynamic
code each window's regime.
"""

from __future__ import annotations

import numpy as np

from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError

LEVELS = (-1.5, -0.5, 0.5, 1.5)
FAMILIES = ("alternating", "halves", "outer-inner")
SLOPES = (-1.0, 0.0, 1.0)
REGIMES = ("falling", "flat", "rising")


def make_synthetic_series(
    n: int,
    n_windows: int = 10,
    window: int = 24,
    n_features: int = 4,
    seed: int = 0,
    split: str = "train",
) -> SeriesData:
    """``n`` series: x ``(n, n_windows * window, n_features)``, all observed.

    ``static``: ``level`` (4 values) and ``family`` (3 values); ``targets["regime"]``:
    ``(n, n_windows)`` ints in 0..2. Deterministic given ``seed``.
    """
    if n < 1 or n_windows < 1 or window < 2 or n_features < 4:
        raise UnweaveError(
            f"Synthetic series need n, n_windows >= 1, window >= 2 and n_features >= 4; got n={n}, "
            f"n_windows={n_windows}, window={window}, n_features={n_features}."
        )
    rng = np.random.default_rng(seed)
    level = rng.integers(0, len(LEVELS), n)
    family = rng.integers(0, len(FAMILIES), n)
    regime = rng.integers(0, len(SLOPES), (n, n_windows))
    k = np.arange(n_features)
    patterns = np.stack(
        [
            (-1.0) ** k,
            np.where(k < n_features / 2, 1.0, -1.0),
            np.where(k % (n_features - 1), -1.0, 1.0),
        ]
    )  # (3, F)
    ramp = np.tile(np.linspace(-1, 1, window), n_windows)[None, :, None]  # (1, T, 1)
    slope = np.repeat(np.asarray(SLOPES)[regime], window, axis=1)[:, :, None]  # (n, T, 1)
    x = (
        np.asarray(LEVELS)[level][:, None, None]
        + 1.5 * patterns[family][:, None, :]
        + slope * ramp
        + 0.1 * rng.normal(size=(n, n_windows * window, n_features))
    )
    return SeriesData(
        x=x.astype(np.float32),
        mask=np.ones(x.shape, dtype=bool),
        feature_names=[f"f{i}" for i in range(n_features)],
        name="synthetic-series",
        split=split,
        static={"level": level, "family": family},
        targets={"regime": regime},
        meta={"window": window, "levels": LEVELS, "families": FAMILIES, "regimes": REGIMES},
    )


def load_synthetic_series(
    split: str, n_train: int = 2000, n_test: int = 500, seed: int = 0, **options
) -> SeriesData:
    """The ``"train"`` or ``"test"`` split; the two come from independent seeds.

    Values are z-scored per feature with the training split's mean and std (``meta["mean"]``,
    ``meta["std"]``), as the real data sets are.
    """
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    train_seed, test_seed = (
        int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(2)
    )
    train = make_synthetic_series(n_train, seed=train_seed, split="train", **options)
    data = train if split == "train" else make_synthetic_series(
        n_test, seed=test_seed, split="test", **options
    )  # fmt: skip
    mean, std = train.x.mean(axis=(0, 1)), train.x.std(axis=(0, 1))
    data.x = ((data.x - mean) / std).astype(np.float32)
    data.meta.update(mean=mean, std=std)
    return data
