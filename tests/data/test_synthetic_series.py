"""Synthetic series: shapes, determinism, and that each factor is recoverable as designed."""

import numpy as np
import pytest

from unweave.data.synthetic_series import load_synthetic_series, make_synthetic_series
from unweave.errors import UnweaveError


def test_shapes_labels_and_determinism():
    data = make_synthetic_series(50, n_windows=5, window=24, n_features=4, seed=4)
    assert data.x.shape == (50, 120, 4) and data.x.dtype == np.float32 and data.mask.all()
    assert data.targets["regime"].shape == (50, 5)
    again = make_synthetic_series(50, n_windows=5, window=24, n_features=4, seed=4)
    assert np.array_equal(data.x, again.x)
    other = make_synthetic_series(50, n_windows=5, window=24, n_features=4, seed=5)
    assert not np.array_equal(data.x, other.x)
    train, test = load_synthetic_series("train", 40, 20), load_synthetic_series("test", 40, 20)
    assert len(train) == 40 and len(test) == 20 and not np.array_equal(train.x[:20], test.x)


def test_each_factor_is_read_off_by_its_known_statistic():
    data = make_synthetic_series(300, seed=0)
    # level: the series mean is the offset (profiles and ramps average to zero)
    levels = np.round(data.x.mean((1, 2)) + 1.5).astype(int)
    assert (levels == data.static["level"]).mean() > 0.98
    # family: the profile across features that best matches the time-averaged series
    profile = data.x.mean(1) - data.x.mean((1, 2))[:, None]  # (N, F)
    patterns = np.array([[1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]])
    assert ((profile @ patterns.T).argmax(1) == data.static["family"]).mean() > 0.98
    # regime: the sign of each window's rise (last step minus first)
    windows = data.x.mean(2).reshape(300, 10, 24)
    rise = windows[:, :, -3:].mean(-1) - windows[:, :, :3].mean(-1)
    assert (np.digitize(rise, [-0.9, 0.9]) == data.targets["regime"]).mean() > 0.98


def test_bad_sizes_are_one_sentence():
    with pytest.raises(UnweaveError, match="window >= 2"):
        make_synthetic_series(10, window=1)
    with pytest.raises(UnweaveError, match="n_features >= 4"):
        make_synthetic_series(10, n_features=3)
    with pytest.raises(UnweaveError, match="Unknown split 'valid'"):
        load_synthetic_series("valid")
