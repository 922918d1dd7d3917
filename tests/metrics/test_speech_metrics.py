"""Speech metrics: utterance embeddings per method, the MFCC-mean baseline, the verification
report and the content probe, on hand-made data with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.fft import idct
from scipy.signal import lfilter

from unweave.data.audio import FeatureNorm, segments, stft_magnitude
from unweave.data.speech import RATE, STFT, feature_names
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.metrics.speech import (
    content_probe_report,
    mfcc_mean_baseline,
    speaker_verification_report,
    utterance_embeddings,
)
from unweave.metrics.verification import verification_eer
from unweave.models.audio_dbse import AudioDBSE, AudioDBSEConfig
from unweave.models.base import Latents
from unweave.models.fhvae import FHVAE, FHVAEConfig
from unweave.nn.gaussian import Gaussian

pytestmark = pytest.mark.usefixtures("one_thread")


def speech(
    x: np.ndarray,
    utterance: np.ndarray,
    static: dict[str, np.ndarray],
    features: str = "fbank",
    norm: FeatureNorm | None = None,
    **meta,
) -> SeriesData:
    """A speech split built by hand: raw features ``x (N, T, F)`` normalised by ``norm``."""
    norm = norm or FeatureNorm(np.zeros(x.shape[2], np.float32), np.ones(x.shape[2], np.float32))
    return SeriesData(
        x=norm.apply(x),
        mask=np.ones(x.shape, dtype=bool),
        feature_names=[f"f{k}" for k in range(x.shape[2])],
        name="hand-made",
        split="test",
        static=static,
        groups={"utterance": np.asarray(utterance, dtype=np.int64)},
        meta={"mean": norm.mean, "std": norm.std, "features": features, **meta},
    )


# --------------------------------------------------------------------------- a fake model


N_SPEAKERS, N_DIGITS = 6, 10


class Oracle(torch.nn.Module):
    """Reads the speaker one-hot (static) and the digit one-hot (dynamic, per frame) off x."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x: torch.Tensor) -> Latents:
        static, dynamic = x[:, :, :N_SPEAKERS].mean(1), x[:, :, N_SPEAKERS:]
        small = torch.full_like  # posterior std 0.05
        return Latents(
            static=Gaussian(static, small(static, np.log(0.05**2))),
            dynamic=Gaussian(dynamic, small(dynamic, np.log(0.05**2))),
        )


def oracle_split(seed: int, per_speaker: int = 12, per_utterance: int = 2) -> SeriesData:
    """Utterances of 6 speakers with random digits; x = [speaker one-hot, digit one-hot] + noise."""
    rng = np.random.default_rng(seed)
    n_utt = N_SPEAKERS * per_speaker
    speaker = np.repeat(np.arange(N_SPEAKERS), per_speaker)
    digit = rng.integers(0, N_DIGITS, n_utt)
    utterance = np.repeat(np.arange(n_utt), per_utterance)
    onehot = np.concatenate([np.eye(N_SPEAKERS)[speaker], np.eye(N_DIGITS)[digit]], 1)
    x = onehot[utterance][:, None].repeat(4, 1) + 0.05 * rng.normal(size=(len(utterance), 4, 16))
    static = {"speaker": speaker[utterance], "digit": digit[utterance]}
    return speech(x.astype(np.float32), utterance, static)


def test_oracle_codes_give_the_known_answers() -> None:
    train, test = oracle_split(seed=1), oracle_split(seed=2)
    report = speaker_verification_report(Oracle(), train, test, lda_dims=3)
    assert report["eer_static"] < 0.01  # the speaker one-hot
    assert 0.35 < report["eer_dynamic"] < 0.65  # the digit, independent of the speaker
    assert 0 <= report["eer_mfcc_mean"] <= 1
    assert report["eer_static_lda"] < 0.01
    assert (report["lda_dims"], report["lda_dims_static"], report["lda_dims_mfcc_mean"]) == (
        3,
        3,
        3,
    )
    assert report["n_test_utterances"] == 72 and report["n_test_speakers"] == 6
    assert report["n_pairs"] == 72 * 71 // 2 and report["n_target_pairs"] == 6 * 12 * 11 // 2

    # The Gram-matrix scoring agrees with verification_eer, with and without the LDA.
    test_codes = utterance_embeddings(Oracle(), test)
    train_codes = utterance_embeddings(Oracle(), train)
    speakers = test_codes["speaker"]
    for code in ("static", "dynamic"):
        expected = verification_eer(test_codes[code], speakers)["eer"]
        assert report[f"eer_{code}"] == pytest.approx(expected)
        lda = verification_eer(
            test_codes[code], speakers, 3, train_codes[code], train_codes["speaker"]
        )
        assert report[f"eer_{code}_lda"] == pytest.approx(lda["eer"])
    # The baseline: c1-c13 (no log energy), centred on the training utterances' mean.
    centre = mfcc_mean_baseline(train, n_mfcc=14)[:, 1:].mean(0)
    baseline = mfcc_mean_baseline(test, n_mfcc=14)[:, 1:] - centre
    expected = verification_eer(baseline, speakers)["eer"]
    assert report["eer_mfcc_mean"] == pytest.approx(expected)
    assert report["eer_mfcc_mean"] != pytest.approx(
        verification_eer(mfcc_mean_baseline(test), speakers)["eer"]
    )

    probe = content_probe_report(Oracle(), train, test)
    assert probe["dynamic->digit"] == 1.0
    assert probe["static->digit"] < probe["chance:digit"] + 0.15  # no leak of the digit
    assert probe["chance:digit"] == pytest.approx(
        np.bincount(test.static["digit"]).max() / len(test)
    )
    assert (probe["n_train"], probe["n_test"]) == (len(train), len(test))


def test_content_probe_subsamples_train_at_random_and_skips_a_missing_label() -> None:
    """Train rows sorted by digit: the first 100 of 144 would miss the last digits."""
    train, test = oracle_split(seed=1), oracle_split(seed=2)
    order = np.argsort(train.static["digit"], kind="stable")
    train.x, train.mask = train.x[order], train.mask[order]
    train.static = {k: v[order] for k, v in train.static.items()}
    probe = content_probe_report(Oracle(), train, test, max_train=100)
    assert probe["n_train"] == 100 and probe["dynamic->digit"] > 0.9
    assert content_probe_report(Oracle(), train, test, factor="gender") == {}


def test_report_errors() -> None:
    train, test = oracle_split(seed=1), oracle_split(seed=2)
    with pytest.raises(UnweaveError, match="lda_dims is 6; expected 1 to 5"):
        speaker_verification_report(Oracle(), train, test, lda_dims=6)
    del test.groups["utterance"]
    with pytest.raises(UnweaveError, match="no groups\\['utterance'\\]"):
        utterance_embeddings(Oracle(), test)
    mixed = oracle_split(seed=2)
    mixed.static["speaker"] = np.roll(mixed.static["speaker"], 1)
    with pytest.raises(UnweaveError, match="speaker changes within an utterance"):
        utterance_embeddings(Oracle(), mixed)


# --------------------------------------------------------------------------- the two protocols


def shuffled_split(n_features: int, length: int) -> SeriesData:
    """4 utterances (ids 0-3, speakers 1, 0, 1, 2) of 1-4 segments, rows in shuffled order."""
    rng = np.random.default_rng(0)
    utterance = rng.permutation(np.repeat(np.arange(4), [3, 1, 2, 4]))
    speaker = np.array([1, 0, 1, 2])[utterance]
    x = rng.normal(size=(len(utterance), length, n_features)).astype(np.float32)
    return speech(x, utterance, {"speaker": speaker})


@pytest.mark.filterwarnings("error")
def test_dbse_path_means_the_static_means_and_samples_the_dynamic_code() -> None:
    torch.manual_seed(0)
    model = AudioDBSE(
        AudioDBSEConfig(n_features=6, encoder_hidden=4, g_dim=4, f_dim=3, z_dim=2, rnn_size=4)
    )
    data = shuffled_split(6, 5)
    data.x.setflags(write=False)  # as the loaders' memmaps
    state = torch.get_rng_state()
    codes = utterance_embeddings(model, data, batch_size=3)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone
    assert codes["static"].shape == (4, 3) and codes["dynamic"].shape == (4, 2)
    assert codes["speaker"].tolist() == [1, 0, 1, 2] and codes["utterance"].tolist() == [0, 1, 2, 3]
    with torch.no_grad():
        static = model.encode(torch.tensor(data.x)).static.mean.numpy()
    utterance = data.groups["utterance"]
    for u in range(4):
        assert codes["static"][u] == pytest.approx(static[utterance == u].mean(0), abs=1e-5)
    again = utterance_embeddings(model, data, batch_size=3)
    assert np.array_equal(again["dynamic"], codes["dynamic"])  # seeded
    other = utterance_embeddings(model, data, batch_size=3, seed=1)
    assert np.allclose(other["static"], codes["static"], atol=1e-6)  # means
    # A posterior std of e^4 ~ 55 shows in a sampled code (mean of 5-20 draws), not in a mean.
    with torch.no_grad():
        model.dynamic_head.logvar.weight.zero_()
        model.dynamic_head.logvar.bias.fill_(8.0)
        mean = model.encode(torch.tensor(data.x)).dynamic.mean
    assert mean.abs().max() < 3
    assert np.abs(utterance_embeddings(model, data)["dynamic"]).max() > 5


@pytest.mark.filterwarnings("error")  # e.g. torch's warning on a read-only array
def test_fhvae_path_gives_the_s_vector_and_the_mean_z1() -> None:
    torch.manual_seed(0)
    model = FHVAE(
        FHVAEConfig(n_features=6, segment=5, rnn_size=16, z1_dim=2, z2_dim=3, n_sequences=4)
    )
    data = shuffled_split(6, 5)
    data.x.setflags(write=False)  # as the loaders' memmaps
    codes = utterance_embeddings(model, data, batch_size=3)
    assert codes["static"].shape == (4, 3) and codes["dynamic"].shape == (4, 2)
    assert codes["speaker"].tolist() == [1, 0, 1, 2]
    with torch.no_grad():
        latents = model.encode(torch.tensor(data.x))
    z2, z1 = latents.static.mean.numpy(), latents.dynamic.mean[:, 0].numpy()
    utterance = data.groups["utterance"]
    for u, count in enumerate([3, 1, 2, 4]):
        rows = utterance == u
        shrunk = z2[rows].sum(0) / (count + model.config.z2_prior_var)  # mu2*, not the mean
        assert codes["static"][u] == pytest.approx(shrunk, abs=1e-5)
        assert codes["dynamic"][u] == pytest.approx(z1[rows].mean(0), abs=1e-5)


# --------------------------------------------------------------------------- the MFCC baseline


def test_fbank_baseline_inverts_to_the_mean_log_mel_of_distinct_frames() -> None:
    """Overlapping segments (shift 10 of 20) must count each frame once."""
    rng = np.random.default_rng(0)
    frames = [rng.normal(2, 3, size=(n, 80)).astype(np.float32) for n in (40, 30)]
    cut = [segments(f, 20, 10) for f in frames]  # 3 and 2 segments
    x = np.concatenate(cut)
    utterance = np.repeat([0, 1], [len(c) for c in cut])
    norm = FeatureNorm.fit(x)
    data = speech(x, utterance, {"speaker": utterance}, "fbank", norm, shift=10)
    full = mfcc_mean_baseline(data, n_mfcc=80)
    for u, f in enumerate(frames):
        assert idct(full[u], norm="ortho") == pytest.approx(f.mean(0), abs=1e-4)
    assert mfcc_mean_baseline(data) == pytest.approx(full[:, :13])


def tone_split(freqs: list[float], seconds: float = 0.5) -> SeriesData:
    """One utterance per pure tone, as 20-frame STFT segments normalised together."""
    t = np.arange(int(seconds * RATE)) / RATE
    cut = [segments(stft_magnitude(0.5 * np.sin(2 * np.pi * f * t), **STFT)) for f in freqs]
    x = np.concatenate(cut)
    utterance = np.repeat(np.arange(len(freqs)), [len(c) for c in cut])
    settings = dict(STFT)
    return speech(
        x,
        utterance,
        {"speaker": utterance},
        "stft",
        FeatureNorm.fit(x),
        rate=RATE,
        settings=settings,
    )


def test_stft_baseline_puts_a_tone_in_its_mel_band() -> None:
    data = tone_split([500.0, 2000.0])
    centres = np.array([float(name[4:-2]) for name in feature_names("fbank")])
    log_mel = idct(mfcc_mean_baseline(data, n_mfcc=80, n_mels=80), norm="ortho", axis=1)
    assert abs(centres[np.argmax(log_mel[0])] - 500) < 60
    assert abs(centres[np.argmax(log_mel[1])] - 2000) < 120
    mfcc = mfcc_mean_baseline(data)
    assert mfcc.shape == (2, 13) and np.abs(mfcc[0] - mfcc[1]).max() > 1


def test_baseline_separates_speakers_with_different_spectral_tilts() -> None:
    """Noise through a low-pass (speaker 0) or a high-pass (speaker 1) first-order filter,
    with a random pole and a random gain (a loudness spread of 15 dB, which c0 carries into
    the cosine) per utterance."""
    rng = np.random.default_rng(0)
    waves, speaker = [], []
    for s in (0, 1):
        for _ in range(8):
            pole, gain = rng.uniform(0.7, 0.95), rng.uniform(0.05, 0.3)
            noise = gain * rng.normal(size=RATE // 2)
            b, a = ([1.0], [1.0, -pole]) if s == 0 else ([1.0, -pole], [1.0])
            waves.append(lfilter(b, a, noise))
            speaker.append(s)
    cut = [segments(stft_magnitude(w.astype(np.float32), **STFT)) for w in waves]
    x = np.concatenate(cut)
    utterance = np.repeat(np.arange(len(cut)), [len(c) for c in cut])
    static = {"speaker": np.array(speaker)[utterance]}
    data = speech(x, utterance, static, "stft", FeatureNorm.fit(x), rate=RATE, settings=STFT)
    assert verification_eer(mfcc_mean_baseline(data), np.array(speaker))["eer"] < 0.1


def test_baseline_errors() -> None:
    data = tone_split([500.0])
    with pytest.raises(UnweaveError, match="n_mfcc is 81; expected 1 to 80"):
        mfcc_mean_baseline(data, n_mfcc=81)
    data.meta["settings"] = {"n_fft": 512}
    with pytest.raises(UnweaveError, match="201 STFT bins; expected 257 for n_fft 512"):
        mfcc_mean_baseline(data)
    data.meta["features"] = "mfcc"
    with pytest.raises(UnweaveError, match="Unknown speech features 'mfcc'"):
        mfcc_mean_baseline(data)
    del data.meta["std"]
    with pytest.raises(UnweaveError, match="no meta\\['std'\\]"):
        mfcc_mean_baseline(data)
