"""Speaker verification by equal error rate (EER), the protocol of FHVAE and DBSE (Table 7).

One embedding per utterance (FHVAE: the s-vector mu2* or the mean z1; DBSE: the mean static
or dynamic code); every pair of test utterances ``i < j`` is scored by the cosine of their
embeddings, optionally after an LDA fitted on training speakers (FHVAE: 12 or 24 dims); a pair
is a *target* trial when both utterances come from the same speaker. The EER is the error rate
where the false-positive rate (non-targets accepted) equals the false-negative rate (targets
rejected): a low EER for the static code and about 0.5 for the dynamic code is what a
disentangled model should give.

The EER is read off scikit-learn's ROC with linear interpolation between the two ROC points
where FNR - FPR changes sign. (The DBSE code bisects the threshold on [-1, 1] instead; both
converge to the same crossing.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import roc_curve

from unweave.errors import UnweaveError


def equal_error_rate(scores: np.ndarray, same: np.ndarray) -> float:
    """The EER of trials with ``scores`` ``(P,)`` (higher = more alike) and ``same`` ``(P,)``
    (True for target trials), in [0, 1]."""
    scores = np.asarray(scores, dtype=float)
    same = np.asarray(same)
    if scores.ndim != 1 or same.shape != scores.shape:
        raise UnweaveError(
            f"Scores and labels must be 1-D of the same length; got {scores.shape} and "
            f"{same.shape}."
        )
    if not np.isfinite(scores).all():
        raise UnweaveError("Verification scores must be finite; got NaN or infinite values.")
    same = same.astype(bool)
    if same.all() or not same.any():
        raise UnweaveError(
            f"The EER needs target and non-target trials; got {int(same.sum())} target and "
            f"{int((~same).sum())} non-target trials."
        )
    fpr, tpr, _ = roc_curve(same, scores, drop_intermediate=False)
    gap = (1 - tpr) - fpr  # FNR - FPR: 1 at the first ROC point, -1 at the last
    k = int(np.argmax(gap <= 0))
    if gap[k] == 0:
        return float(fpr[k])
    t = gap[k - 1] / (gap[k - 1] - gap[k])
    return float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))


def verification_eer(
    embeddings: np.ndarray,
    speakers: np.ndarray,
    lda_dims: int | None = None,
    train_embeddings: np.ndarray | None = None,
    train_speakers: np.ndarray | None = None,
) -> dict[str, Any]:
    """EER of all test pairs ``i < j`` scored by cosine similarity.

    ``embeddings`` ``(U, D)``, one per utterance; ``speakers`` ``(U,)``. With ``lda_dims``,
    an LDA to that many dimensions is fitted on ``train_embeddings`` ``(M, D)`` and
    ``train_speakers`` ``(M,)`` and applied to the test embeddings before scoring.
    Returns ``eer``, ``n_pairs``, ``n_target``, ``n_nontarget``, ``n_utterances``,
    ``n_speakers`` and ``lda_dims`` (0 without LDA).
    """
    embeddings = _embeddings("embeddings", embeddings, speakers)
    speakers = np.asarray(speakers)
    if len(np.unique(speakers)) < 2:
        raise UnweaveError(
            f"Verification needs utterances of at least 2 speakers; got {len(np.unique(speakers))}."
        )
    if lda_dims is not None:
        embeddings = _lda(embeddings, lda_dims, train_embeddings, train_speakers)
    elif train_embeddings is not None or train_speakers is not None:
        raise UnweaveError("Training embeddings are only used for an LDA; set lda_dims as well.")
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    if (norms == 0).any():
        raise UnweaveError(
            f"Cosine scoring needs nonzero embeddings; utterance {int(np.argmax(norms == 0))} "
            "has an all-zero embedding."
        )
    unit = embeddings / norms
    i, j = np.triu_indices(len(unit), k=1)
    scores = (unit @ unit.T)[i, j]  # from the Gram matrix: memory grows with U^2, not U^2 D
    same = speakers[i] == speakers[j]
    if not same.any():
        raise UnweaveError(
            "Verification needs at least one speaker with 2 or more utterances (a target pair)."
        )
    return {
        "eer": equal_error_rate(scores, same),
        "n_pairs": len(scores),
        "n_target": int(same.sum()),
        "n_nontarget": int((~same).sum()),
        "n_utterances": len(unit),
        "n_speakers": len(np.unique(speakers)),
        "lda_dims": lda_dims or 0,
    }


def _embeddings(name: str, embeddings: Any, speakers: Any) -> np.ndarray:
    """``embeddings`` as a finite float array ``(U, D)`` with one speaker per row."""
    values = np.asarray(embeddings, dtype=float)
    if values.ndim != 2:
        raise UnweaveError(f"Argument '{name}' must be 2-D (utterances, dims); got {values.shape}.")
    if np.asarray(speakers).shape != (len(values),):
        raise UnweaveError(
            f"Argument '{name}' has {len(values)} rows but its speakers have shape "
            f"{np.asarray(speakers).shape}; expected ({len(values)},)."
        )
    if not np.isfinite(values).all():
        raise UnweaveError(f"Argument '{name}' has NaN or infinite values.")
    return values


def _lda(
    embeddings: np.ndarray,
    dims: int,
    train_embeddings: np.ndarray | None,
    train_speakers: np.ndarray | None,
) -> np.ndarray:
    """Test embeddings projected by an LDA fitted on the training speakers: ``(U, dims)``."""
    if train_embeddings is None or train_speakers is None:
        raise UnweaveError("An LDA needs train_embeddings and train_speakers.")
    train = _embeddings("train_embeddings", train_embeddings, train_speakers)
    if train.shape[1] != embeddings.shape[1]:
        raise UnweaveError(
            f"Training embeddings have {train.shape[1]} dims and test embeddings "
            f"{embeddings.shape[1]}; expected the same."
        )
    n_classes = len(np.unique(train_speakers))
    limit = min(n_classes - 1, train.shape[1])
    whole = isinstance(dims, (int, np.integer)) and not isinstance(dims, bool)
    if not whole or not 1 <= dims <= limit:
        raise UnweaveError(
            f"lda_dims is {dims}; expected 1 to {limit} (at most speakers - 1 = {n_classes - 1} "
            f"and at most the {train.shape[1]} embedding dims)."
        )
    lda = LinearDiscriminantAnalysis(n_components=dims)
    return lda.fit(train, np.asarray(train_speakers)).transform(embeddings)
