"""Content/style metrics on known answers: kNN PR-AUC, codebook purity, leakage, few-shot."""

from __future__ import annotations

import numpy as np
import pytest

from unweave.errors import UnweaveError
from unweave.metrics.content_style import (
    codebook_confusion,
    codebook_purity,
    content_style_report,
    few_shot_accuracy,
    k_shot_style,
    knn_pr_auc,
    knn_precision_recall,
    leakage_report,
    plot_confusion,
    retrieval_chance,
    zero_shot_content,
)


def clustered(labels: np.ndarray, dims: int = 3, spread: float = 0.01, seed: int = 0) -> np.ndarray:
    """Codes ``(M, dims)``: one far-apart centre per label plus small noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(labels.max() + 1, dims)) * 100
    return centres[labels] + spread * rng.normal(size=(len(labels), dims))


def test_hand_computed_precision_recall_and_area() -> None:
    """x = 0, 1, 2.5, 4.2 with labels 0, 1, 0, 1: the positives rank 2nd, 3rd, 3rd, 2nd, so
    mean recall is 0, 1/2, 1 and mean precision 0, 1/4, 1/3; area 1/2 * 1/4 + 1/2 * 1/3."""
    codes = np.array([[0.0], [1.0], [2.5], [4.2]])
    labels = np.array([0, 1, 0, 1])
    precision, recall = knn_precision_recall(codes, labels)
    assert precision == pytest.approx([0, 1 / 4, 1 / 3])
    assert recall == pytest.approx([0, 1 / 2, 1])
    assert knn_pr_auc(codes, labels) == pytest.approx(7 / 24)
    assert knn_pr_auc(codes, labels, k_max=2) == pytest.approx(1 / 8)


def test_clustered_codes_give_one_and_random_codes_the_base_rate() -> None:
    labels = np.repeat(np.arange(4), 100)
    assert knn_pr_auc(clustered(labels), labels) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    chance = retrieval_chance(labels)
    assert chance == pytest.approx(99 / 399)
    assert knn_pr_auc(rng.normal(size=(400, 8)), labels) == pytest.approx(chance, abs=0.03)


def test_singleton_queries_are_left_out_and_chunks_do_not_matter() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])  # label 2 has no other fragment
    codes = np.random.default_rng(0).normal(size=(6, 2))
    whole = knn_precision_recall(codes, labels, chunk_size=100)
    pieces = knn_precision_recall(codes, labels, chunk_size=2)
    assert np.allclose(whole, pieces)
    # Perfect clusters of unequal size, 5 queries: at k=1 P = 1 and R = (3 * 1/2 + 2 * 1)/5
    # = 0.7; at k=2 P = (3 * 1 + 2 * 1/2)/5 = 0.8 and R = 1: area 0.7 + 0.3 * 0.8.
    assert knn_pr_auc(clustered(labels), labels) == pytest.approx(0.94)
    with pytest.raises(UnweaveError, match="k_max is 6; expected 1 to 5"):
        knn_pr_auc(codes, labels, k_max=6)
    with pytest.raises(UnweaveError, match="shape"):
        knn_pr_auc(codes, labels[:5])


def test_content_style_report_separates_the_two_codes() -> None:
    content = np.tile(np.arange(5), 40)
    style = np.repeat(np.arange(4), 50)
    report = content_style_report(clustered(content), clustered(style, seed=1), content, style)
    assert report["content_code->content"] > 0.99 and report["style_code->style"] > 0.99
    assert report["style_code->content"] < report["chance:content"] + 0.05
    assert report["content_code->style"] < report["chance:style"] + 0.05
    assert set(report) == {
        "content_code->content",
        "content_code->style",
        "style_code->content",
        "style_code->style",
        "chance:content",
        "chance:style",
    }


def test_codebook_confusion_and_purity() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])
    one_to_one = codebook_confusion(np.array([2, 2, 0, 0, 0, 1]), labels, n_atoms=4)
    assert one_to_one.shape == (4, 3)
    assert np.allclose(one_to_one.sum(1), [1, 1, 1, 0])  # atom 3 unused: a zero row
    assert codebook_purity(one_to_one) == 1.0
    constant = codebook_confusion(np.zeros(6, int), labels, n_atoms=4)
    assert codebook_purity(constant) == pytest.approx(3 / 6)  # the largest class share
    mixed = codebook_confusion(np.array([0, 1, 0, 1, 1, 1]), labels, n_atoms=2)
    assert np.allclose(mixed, [[0.5, 0.5, 0], [0.25, 0.5, 0.25]])
    assert codebook_purity(mixed) == pytest.approx((0.5 + 0.5) / 2)  # unweighted over atoms
    with pytest.raises(UnweaveError, match="below n_atoms=2"):
        codebook_confusion(np.array([0, 2, 0, 1, 1, 1]), labels, n_atoms=2)


def test_confusion_plot_writes_a_png_atomically(tmp_path) -> None:
    matrix = codebook_confusion(np.array([1, 1, 0, 2]), np.array([0, 0, 1, 2]), n_atoms=3)
    path = plot_confusion(matrix, ["a0", "a1", "a2"], ["x", "y", "z"], tmp_path / "sub" / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["m.png"]
    with pytest.raises(UnweaveError, match=r"expected \(2, 3\)"):
        plot_confusion(matrix, ["a0", "a1"], ["x", "y", "z"], tmp_path / "bad.png")


def test_leakage_of_a_label_free_z_is_near_chance() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 800)
    z = rng.normal(size=(800, 6))  # independent of the label
    s = np.eye(4)[y] + 0.1 * rng.normal(size=(800, 4))
    report = leakage_report(z[:600], y[:600], z[600:], y[600:], s[:600], s[600:])
    assert report["chance"] == pytest.approx(np.bincount(y[600:]).max() / 200)
    assert report["z->label"] < report["chance"] + 0.1
    assert report["s->label"] > 0.95


def test_zero_shot_by_atom_majority_and_by_centroids() -> None:
    train_content = np.array([0, 0, 1, 1, 2, 2])
    train_atoms = np.array([3, 3, 1, 1, 0, 0])
    ood_content = np.array([0, 1, 2, 2])
    assert zero_shot_content(train_atoms, train_content, np.array([3, 1, 0, 0]), ood_content) == 1
    # atom 2 never seen in training: that fragment counts wrong
    assert zero_shot_content(train_atoms, train_content, np.array([3, 1, 0, 2]), ood_content) == (
        0.75
    )
    train_codes = clustered(train_content)
    ood_codes = clustered(ood_content, seed=0) + 0.5
    assert zero_shot_content(train_codes, train_content, ood_codes, ood_content) == 1.0


def test_k_shot_styles_by_nearest_centroid() -> None:
    styles = np.repeat(np.arange(4), 30)
    assert k_shot_style(clustered(styles), styles, shots=1) == 1.0
    noise = np.random.default_rng(0).normal(size=(120, 4))
    assert k_shot_style(noise, styles, shots=5, repeats=20) == pytest.approx(0.25, abs=0.07)
    with pytest.raises(UnweaveError, match="more than 30 fragments"):
        k_shot_style(noise, styles, shots=30)
    report = few_shot_accuracy(
        np.array([0, 1]), np.array([0, 1]), styles % 2, styles % 2, clustered(styles), styles
    )
    assert report == {
        "zero_shot": 1.0,
        "1_shot": 1.0,
        "5_shot": 1.0,
        "10_shot": 1.0,
        "chance:content": 0.5,
        "chance:style": 0.25,
    }
