"""Speaker verification: the EER on known answers, cosine pair scoring, the LDA back end."""

from __future__ import annotations

import numpy as np
import pytest

from unweave.errors import UnweaveError
from unweave.metrics.verification import equal_error_rate, verification_eer


def test_separated_scores_give_zero_and_reversed_scores_give_one() -> None:
    same = np.array([True, True, False, False, False])
    assert equal_error_rate(np.array([0.9, 0.8, 0.3, 0.2, 0.1]), same) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2, 0.8, 0.9, 0.7]), same) == 1.0


def test_random_scores_give_one_half() -> None:
    rng = np.random.default_rng(0)
    eer = equal_error_rate(rng.normal(size=20_000), rng.random(20_000) < 0.3)
    assert eer == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize(
    ("targets", "nontargets", "expected"),
    [
        # Descending: T 0.9 (FNR 2/3, FPR 0), N 0.7 (2/3, 1/3), T 0.6 (1/3, 1/3): crossing at 1/3.
        ([0.9, 0.6, 0.4], [0.7, 0.3, 0.2], 1 / 3),
        # T 1.0 gives (FNR 1/2, FPR 0); the tie at 0.5 jumps to (0, 1/2): FNR - FPR goes
        # 1/2 -> -1/2, so the crossing is halfway, at FPR = FNR = 1/4.
        ([1.0, 0.5], [0.5, 0.0], 0.25),
        ([0.5], [0.5], 0.5),  # one tie: the only ROC segment crosses halfway
    ],
)
def test_hand_computed_crossings(targets: list, nontargets: list, expected: float) -> None:
    scores = np.array(targets + nontargets)
    same = np.array([True] * len(targets) + [False] * len(nontargets))
    assert equal_error_rate(scores, same) == pytest.approx(expected)
    assert equal_error_rate(np.exp(3 * scores), same) == pytest.approx(expected)  # monotone


def test_eer_input_errors() -> None:
    with pytest.raises(UnweaveError, match="target and non-target"):
        equal_error_rate(np.array([0.1, 0.2]), np.array([True, True]))
    with pytest.raises(UnweaveError, match="same length"):
        equal_error_rate(np.array([0.1, 0.2]), np.array([True]))
    with pytest.raises(UnweaveError, match="finite"):
        equal_error_rate(np.array([np.nan, 0.2]), np.array([True, False]))


def clusters(centres: np.ndarray, per_speaker: int, noise: float, seed: int) -> tuple:
    """``per_speaker`` noisy copies of each row of ``centres``, and their speaker ids."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat(np.arange(len(centres)), per_speaker)
    return centres[speakers] + noise * rng.normal(size=(len(speakers), centres.shape[1])), speakers


def test_cosine_scoring_of_all_pairs() -> None:
    centres = np.eye(3) * 5
    embeddings, speakers = clusters(centres, 4, 0.1, seed=0)
    result = verification_eer(embeddings, speakers)
    assert result["eer"] == 0.0
    assert result["n_pairs"] == 12 * 11 // 2
    assert result["n_target"] == 3 * (4 * 3 // 2)
    assert result["n_nontarget"] == 66 - 18
    assert (result["n_utterances"], result["n_speakers"], result["lda_dims"]) == (12, 3, 0)
    # Cosine ignores the norm: scaling one utterance changes nothing.
    embeddings[0] *= 100
    assert verification_eer(embeddings, speakers)["eer"] == 0.0


def test_lda_fitted_on_training_speakers_removes_a_loud_nuisance() -> None:
    """Speakers differ in dims 0-1 (points on a circle of radius 3); dims 2-3 hold a nuisance
    of std 20 that swamps the cosine. An LDA to 2 dims fitted on 6 training speakers recovers
    the speaker plane for 6 *other* speakers (rotated by 30 degrees)."""
    rng = np.random.default_rng(0)

    def speakers_at(angles: np.ndarray, seed: int) -> tuple:
        centres = np.stack([3 * np.cos(angles), 3 * np.sin(angles), 0 * angles, 0 * angles], 1)
        x, ids = clusters(centres, 20, 0.3, seed)
        x[:, 2:] += 20 * rng.normal(size=(len(x), 2))
        return x, ids

    angles = 2 * np.pi * np.arange(6) / 6
    train, train_ids = speakers_at(angles, seed=1)
    test, test_ids = speakers_at(angles + np.pi / 6, seed=2)
    raw = verification_eer(test, test_ids)["eer"]
    lda = verification_eer(test, test_ids, 2, train, train_ids)
    assert raw > 0.3
    assert lda["eer"] < 0.05 and lda["lda_dims"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embeddings": np.ones((3, 2)), "speakers": np.zeros(3)}, "at least 2 speakers"),
        ({"embeddings": np.ones((3, 2)), "speakers": np.arange(2)}, "has 3 rows"),
        ({"embeddings": np.ones(3), "speakers": np.arange(3)}, "must be 2-D"),
        ({"embeddings": np.eye(3), "speakers": np.arange(3)}, "at least one speaker with 2"),
        ({"embeddings": np.zeros((2, 2)), "speakers": np.arange(2)}, "all-zero embedding"),
        ({"embeddings": np.full((2, 2), np.inf), "speakers": np.arange(2)}, "NaN or infinite"),
        (
            {"embeddings": np.eye(4), "speakers": [0, 0, 1, 1], "lda_dims": 2},
            "needs train_embeddings",
        ),
        (
            {"embeddings": np.eye(4), "speakers": [0, 0, 1, 1], "train_embeddings": np.eye(4)},
            "set lda_dims",
        ),
        (
            {
                "embeddings": np.eye(4),
                "speakers": np.array([0, 0, 1, 1]),
                "lda_dims": 2,
                "train_embeddings": np.eye(4),
                "train_speakers": np.array([0, 0, 1, 1]),
            },
            "lda_dims is 2; expected 1 to 1",
        ),
        (
            {
                "embeddings": np.eye(4),
                "speakers": np.array([0, 0, 1, 1]),
                "lda_dims": 1,
                "train_embeddings": np.eye(3),
                "train_speakers": np.array([0, 1, 1]),
            },
            "have 3 dims and test embeddings 4",
        ),
    ],
)
def test_verification_input_errors(kwargs: dict, message: str) -> None:
    kwargs["speakers"] = np.asarray(kwargs["speakers"])
    with pytest.raises(UnweaveError, match=message):
        verification_eer(**kwargs)
