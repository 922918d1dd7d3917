"""Synthetic multivariate series with known static and dynamic factors; no files needed.

Each series has F features over ``n_windows`` windows of ``window`` steps. Static factors,
fixed for the whole series: ``level`` (an offset added to every feature) and ``family`` (the
period of the seasonal wave: 6, 12 or 24 steps). Dynamic factor, one value per window:
``regime`` (the wave's amplitude: 0.3, 1 or 2), kept in ``targets["regime"]`` ``(N, W)``.
Features mix the wave with fixed per-feature phases, plus Gaussian noise of std 0.1.
"""

from __future__ import annotations

import numpy as np

from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError

LEVELS = (-1.5, -0.5, 0.5, 1.5)
PERIODS = (6, 12, 24)
AMPLITUDES = (0.3, 1.0, 2.0)


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
    if n < 1 or n_windows < 1 or window < 2 or n_features < 1:
        raise UnweaveError(
            f"Synthetic series need n, n_windows, n_features >= 1 and window >= 2; got n={n}, "
            f"n_windows={n_windows}, window={window}, n_features={n_features}."
        )
    rng = np.random.default_rng(seed)
    level = rng.integers(0, len(LEVELS), n)
    family = rng.integers(0, len(PERIODS), n)
    regime = rng.integers(0, len(AMPLITUDES), (n, n_windows))
    steps = n_windows * window
    t = np.arange(steps)[None, :, None]  # (1, T, 1)
    feature_phase = np.linspace(0, np.pi, n_features, endpoint=False)[None, None, :]
    start_phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    period = np.asarray(PERIODS)[family][:, None, None]
    amplitude = np.repeat(np.asarray(AMPLITUDES)[regime], window, axis=1)[:, :, None]
    wave = amplitude * np.sin(2 * np.pi * t / period + start_phase + feature_phase)
    x = np.asarray(LEVELS)[level][:, None, None] + wave + 0.1 * rng.normal(size=wave.shape)
    return SeriesData(
        x=x.astype(np.float32),
        mask=np.ones(x.shape, dtype=bool),
        feature_names=[f"f{i}" for i in range(n_features)],
        name="synthetic-series",
        split=split,
        static={"level": level, "family": family},
        targets={"regime": regime},
        meta={"window": window, "levels": LEVELS, "periods": PERIODS, "amplitudes": AMPLITUDES},
    )


def load_synthetic_series(
    split: str, n_train: int = 2000, n_test: int = 500, seed: int = 0, **options
) -> SeriesData:
    """The ``"train"`` or ``"test"`` split; the two come from independent seeds."""
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    child = train_seed if split == "train" else test_seed
    n = n_train if split == "train" else n_test
    return make_synthetic_series(n, seed=int(child.generate_state(1)[0]), split=split, **options)
