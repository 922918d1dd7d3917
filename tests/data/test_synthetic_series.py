"""Synthetic series: shapes, determinism, and that each factor is recoverable as designed."""

import numpy as np
import pytest

from unweave.data.synthetic_series import PERIODS, load_synthetic_series, make_synthetic_series
from unweave.errors import UnweaveError


def test_shapes_labels_and_determinism():
    data = make_synthetic_series(50, n_windows=5, window=24, n_features=3, seed=4)
    assert data.x.shape == (50, 120, 3) and data.x.dtype == np.float32 and data.mask.all()
    assert data.targets["regime"].shape == (50, 5)
    again = make_synthetic_series(50, n_windows=5, window=24, n_features=3, seed=4)
    assert np.array_equal(data.x, again.x)
    other = make_synthetic_series(50, n_windows=5, window=24, n_features=3, seed=5)
    assert not np.array_equal(data.x, other.x)
    train, test = load_synthetic_series("train", 40, 20), load_synthetic_series("test", 40, 20)
    assert len(train) == 40 and len(test) == 20 and not np.array_equal(train.x[:20], test.x)


def test_each_factor_is_read_off_by_its_known_statistic():
    data = make_synthetic_series(300, seed=0)
    # level: the series mean is the offset (the waves average out over whole periods)
    levels = np.round(data.x.mean((1, 2)) + 1.5).astype(int)
    assert (levels == data.static["level"]).mean() > 0.98
    # family: the strongest frequency of feature 0
    spectrum = np.abs(np.fft.rfft(data.x[:, :, 0] - data.x[:, :, 0].mean(1, keepdims=True)))
    peak_period = data.x.shape[1] / spectrum.argmax(1)
    family = np.argmin(np.abs(peak_period[:, None] - np.asarray(PERIODS)[None]), 1)
    assert (family == data.static["family"]).mean() > 0.98
    # regime: the per-window standard deviation grows with the amplitude
    windows = data.x[:, :, 0].reshape(300, 10, 24).std(-1)
    thresholds = np.digitize(windows, [0.45, 1.0])
    assert (thresholds == data.targets["regime"]).mean() > 0.95


def test_bad_sizes_are_one_sentence():
    with pytest.raises(UnweaveError, match="window >= 2"):
        make_synthetic_series(10, window=1)
    with pytest.raises(UnweaveError, match="Unknown split 'valid'"):
        load_synthetic_series("valid")
