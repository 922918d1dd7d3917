"""Speech evaluation: speaker verification (EER) of utterance embeddings and content probes.

Each method's published protocol gives one embedding per utterance from its segments:

- a model with ``utterance_embeddings`` (FHVAE): static = the closed-form s-vector ``mu2*``,
  dynamic = ``mu1``, the mean of the segments' z1 posterior means (reference/methods.md §A);
- any other model with ``encode`` (DBSE): static = the mean over the utterance's segments of
  the static posterior mean; dynamic = the mean over its segments and frames of a *sampled*
  dynamic code (reference/dbse.md §3; drawn under a fixed torch seed, so it repeats).

Every pair of test utterances is scored by the cosine of their embeddings and the equal error
rate read off (:func:`unweave.metrics.verification.equal_error_rate`): low is good for the
static code, about 0.5 for the dynamic code. The classic baseline on the same pairs is the
mean MFCC vector of the utterance (:func:`mfcc_mean_baseline`), c1-c13: c0, the log energy,
is left out (it measures loudness, not the voice, and at ~100x the other coefficients it
would decide every cosine), and the vectors are centred on the training utterances' mean, as
cosine back ends centre i-vectors. The model codes are scored uncentred, as the reference
protocols do. A content probe (FSDD and
synthetic speech: the spoken digit) checks what the dynamic code holds and how much of it
leaks into the static code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.fft import dct

from unweave.data.audio import FeatureNorm, kaldi_mel_banks
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.metrics.probes import probe_accuracy
from unweave.metrics.verification import verification_eer

#: Floor of the mel energies before the log (float32 epsilon, as unweave.data.audio.log_mel).
LOG_FLOOR = float(np.finfo(np.float32).eps)
#: Segments per block when features are read back from a (memmapped) split.
BLOCK = 4096


def _device(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


def _utterance_index(data: SeriesData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted utterance ids ``(U,)``, each segment's row among them ``(N,)``, and the first
    segment of each utterance ``(U,)``."""
    utterance = data.groups.get("utterance")
    if utterance is None:
        raise UnweaveError(
            f"{data.name}/{data.split} has no groups['utterance']; expected speech segments "
            "labelled with their utterance."
        )
    ids, first, index = np.unique(np.asarray(utterance), return_index=True, return_inverse=True)
    return ids, index.reshape(-1), first


def _utterance_means(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """Mean of the rows ``values (N, D)`` of each utterance ``index (N,)``: ``(n, D)``."""
    sums = np.zeros((n, values.shape[1]))
    np.add.at(sums, index, values)
    return sums / np.bincount(index, minlength=n)[:, None]


def _check_finite(codes: dict[str, np.ndarray], data: SeriesData) -> None:
    for name, values in codes.items():
        if not np.isfinite(values).all():
            raise UnweaveError(
                f"The model gave NaN or infinite {name} codes on '{data.name}/{data.split}'; "
                "its weights are likely diverged."
            )


@torch.no_grad()
def segment_codes(
    model: torch.nn.Module, data: SeriesData, rows: np.ndarray, batch_size: int, seed: int
) -> dict[str, np.ndarray]:
    """Codes of the segments ``rows``: ``static`` posterior mean ``(n, S)`` (absent for a
    model without a static code, e.g. the segment beta-VAE), ``dynamic`` posterior mean and
    ``dynamic_sample`` (one draw), both averaged over frames ``(n, Z)``.

    Drawn under ``torch.manual_seed(seed)`` in a forked RNG (the caller's state is kept), so
    the samples, and any noise inside ``encode`` (DBSE's slot 0), repeat.
    """
    model.eval()
    device = _device(model)
    parts: dict[str, list[np.ndarray]] = {"static": [], "dynamic": [], "dynamic_sample": []}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for start in range(0, len(rows), batch_size):
            batch = np.asarray(data.x[rows[start : start + batch_size]], dtype=np.float32)
            latents = model.encode(torch.from_numpy(batch).to(device))
            if latents.dynamic is None:
                raise UnweaveError(
                    f"{type(model).__name__} has no dynamic code; speech evaluation needs both."
                )
            if latents.static is not None:
                parts["static"].append(latents.static.mean.cpu().numpy())
            parts["dynamic"].append(latents.dynamic.mean.mean(1).cpu().numpy())
            parts["dynamic_sample"].append(latents.dynamic.sample().mean(1).cpu().numpy())
    codes = {name: np.concatenate(values) for name, values in parts.items() if values}
    _check_finite(codes, data)
    return codes


@torch.no_grad()
def utterance_embeddings(
    model: torch.nn.Module, data: SeriesData, batch_size: int = 512, seed: int = 0
) -> dict[str, np.ndarray]:
    """One static and one dynamic embedding per utterance, by the model's own protocol.

    Returns ``static`` ``(U, S)`` (absent without a static code), ``dynamic`` ``(U, Z)``,
    ``speaker`` ``(U,)`` int64 and
    ``utterance`` ``(U,)`` (the ids of ``groups["utterance"]``), rows in sorted id order. A
    model with ``utterance_embeddings`` (FHVAE) gives ``mu2*`` and the mean z1; any other
    gives the mean static posterior mean and the mean of a sampled dynamic code (``seed``).
    """
    ids, index, first = _utterance_index(data)
    if "speaker" not in data.static:
        raise UnweaveError(
            f"{data.name}/{data.split} has no static['speaker']; expected speaker labels."
        )
    speaker = np.asarray(data.static["speaker"])
    if (speaker != speaker[first][index]).any():
        raise UnweaveError(
            f"{data.name}/{data.split}: the speaker changes within an utterance; expected one "
            "speaker per utterance."
        )
    model.eval()
    if hasattr(model, "utterance_embeddings"):
        device = _device(model)
        x = torch.from_numpy(np.array(data.x, dtype=np.float32)).to(device)  # memmap: copy
        utterance = torch.from_numpy(np.asarray(data.groups["utterance"], dtype=np.int64))
        utterance = utterance.to(device)
        codes = {
            "static": model.utterance_embeddings(x, utterance, batch_size).cpu().numpy(),
            "dynamic": model.mean_z1_per_utterance(x, utterance, batch_size).cpu().numpy(),
        }
        _check_finite(codes, data)
    else:
        segment = segment_codes(model, data, np.arange(len(data)), batch_size, seed)
        segment["dynamic"] = segment.pop("dynamic_sample")
        codes = {
            name: _utterance_means(segment[name], index, len(ids))
            for name in ("static", "dynamic")
            if name in segment
        }
    return {**codes, "speaker": speaker[first].astype(np.int64), "utterance": ids}


def mfcc_mean_baseline(data: SeriesData, n_mfcc: int = 13, n_mels: int = 80) -> np.ndarray:
    """The mean MFCC vector of every utterance: ``(U, n_mfcc)``, rows in sorted id order.

    The normalisation is undone with ``meta["mean"]``/``meta["std"]``. ``"fbank"`` features
    are already Kaldi log mel energies. ``"stft"`` magnitudes (``meta["settings"]["n_fft"]``,
    ``meta["rate"]``) are squared to power, summed by ``n_mels`` Kaldi mel filters
    (:func:`~unweave.data.audio.kaldi_mel_banks`) and logged with a floor of float32 epsilon
    (magnitudes are in wave units, not Kaldi's 16-bit ones, so c0 differs from Kaldi's by a
    constant). The MFCCs are the first ``n_mfcc`` coefficients, c0 included, of the
    orthonormal DCT-II of the log mel energies; no liftering, no energy term. Since the DCT
    is linear, it is applied to the mean log mel vector of the utterance. The mean runs over
    the distinct frames the segments cover: with ``meta["shift"]`` below the segment length
    (overlapping segments, whose rows an utterance keeps consecutive and in time order, as
    the speech loaders write them), only the first ``shift`` frames of each segment but the
    utterance's last count; without ``meta["shift"]`` every frame of every segment counts.
    """
    for key in ("mean", "std", "features"):
        if key not in data.meta:
            raise UnweaveError(
                f"{data.name}/{data.split} has no meta['{key}']; expected speech features "
                "from unweave.data.speech."
            )
    kind = data.meta["features"]
    n, length, width = data.x.shape
    if kind == "stft":
        n_fft = int(data.meta["settings"]["n_fft"])
        if width != n_fft // 2 + 1:
            raise UnweaveError(
                f"{data.name}/{data.split} has {width} STFT bins; expected {n_fft // 2 + 1} "
                f"for n_fft {n_fft}."
            )
        banks = kaldi_mel_banks(n_mels, int(data.meta["rate"]), n_fft)
        width = n_mels
    elif kind != "fbank":
        raise UnweaveError(f"Unknown speech features '{kind}'; expected one of: stft, fbank.")
    if not 1 <= n_mfcc <= width:
        raise UnweaveError(f"n_mfcc is {n_mfcc}; expected 1 to {width} (the mel bands).")
    norm = FeatureNorm(np.asarray(data.meta["mean"]), np.asarray(data.meta["std"]))
    ids, index, _ = _utterance_index(data)
    shift = min(int(data.meta.get("shift", length)), length)
    keep = np.ones((n, length), dtype=bool)
    keep[:-1, shift:] = (index[1:] != index[:-1])[:, None]  # a segment with a successor
    sums = np.zeros((len(ids), width))
    for start in range(0, n, BLOCK):
        rows = slice(start, start + BLOCK)
        features = norm.invert(np.asarray(data.x[rows])).astype(np.float64)
        if kind == "stft":
            features = np.log(np.maximum(features**2 @ banks.T, LOG_FLOOR))
        np.add.at(sums, index[rows], (features * keep[rows, :, None]).sum(1))
    frames = np.bincount(index, weights=keep.sum(1), minlength=len(ids))
    return dct(sums / frames[:, None], type=2, norm="ortho", axis=1)[:, :n_mfcc]


def speaker_verification_report(
    model: torch.nn.Module,
    train: SeriesData,
    test: SeriesData,
    lda_dims: int | None = None,
    batch_size: int = 512,
    seed: int = 0,
) -> dict[str, Any]:
    """Speaker-verification EERs on all pairs of test utterances, cosine scoring.

    Keys: ``eer_static`` (low is good), ``eer_dynamic`` (about 0.5 is good), ``eer_mfcc_mean``
    (the :func:`mfcc_mean_baseline` on the same pairs; a model without a static code has no
    ``eer_static``), ``n_pairs``, ``n_target_pairs``,
    ``n_test_utterances``, ``n_test_speakers``. With ``lda_dims`` also ``eer_<code>_lda`` and
    ``lda_dims_<code>``: each code projected by an LDA fitted on the *train* split's
    utterances and speakers to ``min(lda_dims, its dims)`` dimensions, and ``lda_dims``.
    """
    embedded = utterance_embeddings(model, test, batch_size, seed)
    train_mfcc = mfcc_mean_baseline(train, n_mfcc=14)[:, 1:]
    codes = {
        **{name: embedded[name] for name in ("static", "dynamic") if name in embedded},
        "mfcc_mean": mfcc_mean_baseline(test, n_mfcc=14)[:, 1:] - train_mfcc.mean(0),
    }
    speakers = embedded["speaker"]
    scored = {name: verification_eer(values, speakers) for name, values in codes.items()}
    report: dict[str, Any] = {f"eer_{name}": result["eer"] for name, result in scored.items()}
    if lda_dims is not None:
        train_embedded = utterance_embeddings(model, train, batch_size, seed)
        train_codes = {
            **{name: train_embedded[name] for name in codes if name in train_embedded},
            "mfcc_mean": train_mfcc - train_mfcc.mean(0),
        }
        report["lda_dims"] = int(lda_dims)
        for name, values in codes.items():
            dims = min(int(lda_dims), values.shape[1])
            result = verification_eer(
                values, speakers, dims, train_codes[name], train_embedded["speaker"]
            )
            report[f"eer_{name}_lda"] = result["eer"]
            report[f"lda_dims_{name}"] = dims
    first = scored["mfcc_mean"]
    report.update(
        n_pairs=first["n_pairs"],
        n_target_pairs=first["n_target"],
        n_test_utterances=first["n_utterances"],
        n_test_speakers=first["n_speakers"],
    )
    return report


def content_probe_report(
    model: torch.nn.Module,
    train: SeriesData,
    test: SeriesData,
    factor: str = "digit",
    max_train: int | None = 5000,
    batch_size: int = 512,
    seed: int = 0,
) -> dict[str, float | int]:
    """Per-segment linear probes of a content label; ``{}`` when the data has none.

    A standardised logistic regression (:func:`~unweave.metrics.probes.probe_accuracy`) is
    fitted on at most ``max_train`` training segments (drawn at random, seed 0: the splits
    are ordered by file name, hence often by label) and scored on every test segment, from
    the dynamic code (posterior mean, averaged over frames ``(N, Z)``) and, as a leakage
    check, from the static code (posterior mean ``(N, S)``). Keys ``dynamic-><factor>``,
    ``static-><factor>``, ``chance:<factor>`` (the test share of the majority class),
    ``n_train`` and ``n_test``.
    """
    if factor not in train.static or factor not in test.static:
        return {}
    rows = np.arange(len(train))
    if max_train is not None and len(train) > max_train:
        rows = np.sort(np.random.default_rng(0).choice(len(train), max_train, replace=False))
    train_codes = segment_codes(model, train, rows, batch_size, seed)
    test_codes = segment_codes(model, test, np.arange(len(test)), batch_size, seed)
    y_train = np.asarray(train.static[factor])[rows]
    y_test = np.asarray(test.static[factor])
    report: dict[str, float | int] = {
        f"{code}->{factor}": probe_accuracy(train_codes[code], y_train, test_codes[code], y_test)
        for code in ("dynamic", "static")
        if code in test_codes
    }
    report[f"chance:{factor}"] = float(np.unique(y_test, return_counts=True)[1].max() / len(y_test))
    report.update(n_train=len(rows), n_test=len(y_test))
    return report
