"""Test conditions: the test split's waves under noise at a stated SNR and a fixed random
channel, the training split clean (FHVAE's robustness protocol)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import freqz

from unweave.data.conditions import EQ_RANGE_DB, TestCondition, equaliser
from unweave.data.registry import load_data
from unweave.errors import UnweaveError

RATE = 16000
TONE = (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)


def test_clean_leaves_the_wave_alone() -> None:
    clean = TestCondition()
    assert clean.clean and clean.name() == "clean" and clean.cache_key() == {}
    np.testing.assert_array_equal(clean.apply(TONE, 0), TONE)


@pytest.mark.parametrize("snr_db", [20.0, 5.0, -5.0])
def test_noise_sits_at_the_stated_snr_and_is_fixed_per_utterance(snr_db: float) -> None:
    noisy = TestCondition(snr_db=snr_db)
    out = noisy.apply(TONE, 3)
    noise = out - TONE
    measured = 10 * np.log10(np.mean(TONE.astype(np.float64) ** 2) / np.mean(noise**2))
    assert measured == pytest.approx(snr_db, abs=0.1)
    np.testing.assert_array_equal(out, noisy.apply(TONE, 3))  # the same every build
    assert not np.array_equal(out, noisy.apply(TONE, 4))  # another utterance, other noise
    assert noisy.name() == f"noise {snr_db:g} dB"


def test_the_channel_is_one_fixed_equaliser_within_its_range() -> None:
    taps = equaliser(0)
    np.testing.assert_array_equal(taps, equaliser(0))
    assert not np.allclose(taps, equaliser(1))
    freq, response = freqz(taps, worN=np.geomspace(150, 6500, 40), fs=RATE)
    gain_db = 20 * np.log10(np.abs(response))
    assert gain_db.max() < EQ_RANGE_DB + 1 and gain_db.min() > -EQ_RANGE_DB - 3
    assert gain_db.max() - gain_db.min() > 6  # far from flat
    out = TestCondition(channel_seed=0).apply(TONE, 0)
    assert out.shape == TONE.shape
    # A steady tone comes out scaled by the response at its frequency (away from the edges).
    _, at_440 = freqz(taps, worN=[440.0], fs=RATE)
    middle = slice(2000, -2000)
    ratio = np.std(out[middle]) / np.std(TONE[middle])
    assert ratio == pytest.approx(abs(at_440[0]), rel=0.02)
    both = TestCondition(snr_db=10, channel_seed=0)
    assert both.name() == "noise 10 dB + channel 0"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"test_snr_db": "loud"}, r"data.options.test_snr_db is 'loud'; expected a number\."),
        ({"test_snr_db": float("nan")}, r"test_snr_db is nan; expected a number\."),
        ({"test_channel_seed": -1}, r"test_channel_seed is -1; expected an integer >= 0\."),
        ({"test_channel_seed": 1.5}, r"test_channel_seed is 1.5; expected an integer >= 0\."),
    ],
)
def test_a_bad_condition_is_one_sentence_before_anything_is_built(
    options: dict, message: str, fresh_cache
) -> None:
    with pytest.raises(UnweaveError, match=message):
        load_data("synthetic-speech", "test", n_speakers=2, **options)
    assert not fresh_cache.exists() or not any(fresh_cache.iterdir())


def tiny_fsdd(folder: Path) -> Path:
    """2 speakers x 2 digits x takes 0-6 as 8 kHz tones of 0.4 s (takes 0-4: the test split)."""
    seconds = np.arange(int(0.4 * 8000)) / 8000
    for s, speaker in enumerate(("ann", "bob")):
        for digit in (1, 7):
            for take in range(7):
                wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * s + 40 * digit + 5 * take) * seconds)
                path = folder / f"{digit}_{speaker}_{take}.wav"
                sf.write(path, wave.astype(np.float32), 8000, subtype="PCM_16")
    return folder


def test_only_the_test_split_changes_and_it_is_normalised_as_the_clean_one(
    tmp_path: Path, fresh_cache
) -> None:
    root = tiny_fsdd(tmp_path)
    clean = {s: load_data("fsdd", s, root, features="fbank") for s in ("train", "test")}
    noisy = {
        s: load_data("fsdd", s, root, features="fbank", test_snr_db=0, test_channel_seed=0)
        for s in ("train", "test")
    }
    np.testing.assert_array_equal(noisy["train"].x, clean["train"].x)
    np.testing.assert_array_equal(noisy["test"].meta["mean"], clean["test"].meta["mean"])
    assert noisy["test"].x.shape == clean["test"].x.shape
    # White noise at 0 dB fills the bins above the tones: their log-mel energy rises.
    rise = noisy["test"].x[..., 60:].mean() - clean["test"].x[..., 60:].mean()
    assert rise > 0.5
    assert noisy["test"].meta["condition"] == "noise 0 dB + channel 0"
    assert noisy["train"].meta["condition"] == clean["test"].meta["condition"] == "clean"
