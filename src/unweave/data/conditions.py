"""Test conditions for speech: the test split's waves under channel and noise mismatch.

FHVAE's robustness claim (Hsu, Zhang & Glass 2017; the Aurora-4 table of its slides) trains a
recogniser on clean speech and tests it on noisy, channel-distorted and noisy + channel
copies of the test set. :class:`TestCondition` makes those copies for any speech loader
(options ``test_snr_db`` and ``test_channel_seed``): the training split stays clean, and the
features are normalised with the clean training statistics as always. Aurora-4 mixes six
recorded noises and a second microphone; unweave has no noise recordings on hand, so the
noise is white Gaussian and the channel a fixed random equaliser (what each is, below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import firwin2, oaconvolve

from unweave.settings import check_number

RATE = 16000
#: The equaliser: gains drawn uniformly in +-EQ_RANGE_DB at EQ_BANDS log-spaced frequencies
#: from 100 Hz to 7 kHz (flat outside), interpolated linearly by ``firwin2`` into a
#: linear-phase FIR.
EQ_BANDS = 12
EQ_RANGE_DB = 12.0
EQ_TAPS = 257
#: Seeds the noise of test utterance ``i`` as ``(NOISE_SEED, i)``: the same noise every build.
NOISE_SEED = 20171204


@dataclass(frozen=True)
class TestCondition:
    """A mismatch applied to every test wave: the channel (``channel_seed``: a fixed random
    equaliser, None: none), then white Gaussian noise at ``snr_db`` decibels below the
    (equalised) utterance's mean power (None: no noise). Both None: clean."""

    __test__ = False  # not a pytest class

    snr_db: float | None = None
    channel_seed: int | None = None

    def __post_init__(self) -> None:
        if self.snr_db is not None:
            check_number("data.options.test_snr_db", self.snr_db)
        if self.channel_seed is not None:
            check_number("data.options.test_channel_seed", self.channel_seed, whole=True, low=0)

    @property
    def clean(self) -> bool:
        return self.snr_db is None and self.channel_seed is None

    def cache_key(self) -> dict[str, Any]:
        """What a cache key adds for this condition: nothing when clean (old entries stay)."""
        if self.clean:
            return {}
        return {"test_snr_db": self.snr_db, "test_channel_seed": self.channel_seed}

    def name(self) -> str:
        """``clean``, ``noise 10 dB``, ``channel 0`` or ``noise 10 dB + channel 0``."""
        parts = [f"noise {self.snr_db:g} dB"] if self.snr_db is not None else []
        parts += [f"channel {self.channel_seed}"] if self.channel_seed is not None else []
        return " + ".join(parts) or "clean"

    def apply(self, wave: np.ndarray, index: int) -> np.ndarray:
        """Test utterance ``index``'s ``wave`` ``(samples,)`` float32 at 16 kHz, distorted."""
        out = np.asarray(wave, dtype=np.float64)
        if self.channel_seed is not None:
            out = oaconvolve(out, equaliser(self.channel_seed), mode="same")
        if self.snr_db is not None:
            power = float(np.mean(out**2)) if len(out) else 0.0
            rng = np.random.default_rng([NOISE_SEED, index])
            out = out + rng.normal(0.0, math.sqrt(power / 10 ** (self.snr_db / 10)), len(out))
        return out.astype(np.float32)


def equaliser(seed: int) -> np.ndarray:
    """The FIR taps ``(EQ_TAPS,)`` of the random equaliser of ``seed``."""
    rng = np.random.default_rng([seed, EQ_BANDS])
    bands = np.geomspace(100.0, 7000.0, EQ_BANDS)
    gains_db = rng.uniform(-EQ_RANGE_DB, EQ_RANGE_DB, EQ_BANDS)
    freq = np.concatenate([[0.0], bands, [RATE / 2]])
    gain = 10 ** (np.concatenate([gains_db[:1], gains_db, gains_db[-1:]]) / 20)
    return firwin2(EQ_TAPS, freq, gain, fs=RATE)
