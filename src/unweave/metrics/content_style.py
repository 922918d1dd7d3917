"""Content/style metrics on fragment codes: kNN retrieval PR-AUC, codebook confusion and
purity, label leakage, and zero-/few-shot classification of held-out styles.

Facts in reference/methods.md §C "Metrics" (V3's ``utils/eval_utils.py`` and ``tester.py``)
and §B "Evaluation" (Two-Step's fresh classifiers). Every function takes one row per fragment.

**kNN retrieval (V3's P/R@k summarised as PR-AUC).** Each fragment is a query; the others are
ranked by Euclidean distance (self excluded, ties by index); a retrieved fragment is relevant
when it has the query's label. For ``k = 1 .. k_max``, precision@k = hits/k and recall@k =
hits/(fragments sharing the query's label), each *averaged over queries* (queries whose label
no other fragment has are left out). The PR-AUC is the step-wise area under that averaged
curve, ``sum_k (R(k) - R(k-1)) * P(k)`` with ``R(0) = 0``. By default ``k_max = M - 1`` (the
whole ranking), so recall reaches 1: perfectly clustered codes give 1 (with classes of equal
size) and codes unrelated to the label give about the label's base rate, the share of other
fragments that share a query's label (reported as ``chance``).

Differences from V3's code, on purpose: V3 evaluates a sparse list of k (1, 2, 5, ... up to
the largest class size - 1) and sums ``(R_i - R_{i-1}) P_i`` from its *first* k, without the
``R(0) = 0`` anchor; its areas are therefore lower and not comparable to these.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from unweave.errors import UnweaveError
from unweave.metrics.probes import chance, probe_accuracy


def _labels(name: str, labels: Any, rows: int | None = None) -> np.ndarray:
    """``labels`` as a 1-D int64 array of non-negative values (``rows`` long, if given)."""
    values = np.asarray(labels)
    if values.ndim != 1 or (rows is not None and len(values) != rows):
        expected = f"({rows},)" if rows is not None else "(M,)"
        raise UnweaveError(f"Argument '{name}' has shape {values.shape}; expected {expected}.")
    if not np.issubdtype(values.dtype, np.integer) or (len(values) and values.min() < 0):
        raise UnweaveError(f"Argument '{name}' must hold non-negative integers.")
    return values.astype(np.int64)


def _codes(name: str, codes: Any, rows: int | None = None) -> np.ndarray:
    """``codes`` as a finite float64 array ``(M, D)`` (``rows`` long, if given)."""
    values = np.asarray(codes, dtype=np.float64)
    if values.ndim != 2 or (rows is not None and len(values) != rows):
        expected = f"({rows}, D)" if rows is not None else "(M, D)"
        raise UnweaveError(f"Argument '{name}' has shape {values.shape}; expected {expected}.")
    if not np.isfinite(values).all():
        raise UnweaveError(f"Argument '{name}' has NaN or infinite values.")
    return values


def _positives(labels: np.ndarray) -> np.ndarray:
    """For every row, how many *other* rows share its label: ``(M,)``."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return counts[inverse] - 1


# ---------------------------------------------------------------------- kNN retrieval


def knn_precision_recall(
    codes: np.ndarray, labels: np.ndarray, k_max: int | None = None, chunk_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Precision@k and recall@k for ``k = 1 .. k_max``, averaged over queries: two ``(k_max,)``
    arrays. ``codes`` ``(M, D)``, ``labels`` ``(M,)``; ``k_max`` defaults to ``M - 1``."""
    codes = _codes("codes", codes)
    labels = _labels("labels", labels, len(codes))
    m = len(codes)
    if m < 2:
        raise UnweaveError(f"kNN retrieval needs at least 2 fragments; got {m}.")
    k_max = m - 1 if k_max is None else k_max
    if not 1 <= k_max <= m - 1:
        raise UnweaveError(f"k_max is {k_max}; expected 1 to {m - 1} (fragments - 1).")
    positives = _positives(labels)
    if not positives.any():
        raise UnweaveError("kNN retrieval needs a label shared by at least 2 fragments.")
    squares = (codes**2).sum(1)
    ranks = np.arange(1, k_max + 1)
    precision, recall = np.zeros(k_max), np.zeros(k_max)
    for start in range(0, m, chunk_size):
        rows = np.arange(start, min(start + chunk_size, m))
        rows = rows[positives[rows] > 0]
        if not len(rows):
            continue
        dist = squares[rows, None] + squares[None, :] - 2.0 * codes[rows] @ codes.T
        dist[np.arange(len(rows)), rows] = np.inf  # the query itself is never retrieved
        order = np.argsort(dist, axis=1, kind="stable")[:, :k_max]
        hits = np.cumsum(labels[order] == labels[rows, None], axis=1)
        precision += (hits / ranks).sum(0)
        recall += (hits / positives[rows, None]).sum(0)
    queries = int((positives > 0).sum())
    return precision / queries, recall / queries


def knn_pr_auc(codes: np.ndarray, labels: np.ndarray, k_max: int | None = None) -> float:
    """Area under the query-averaged kNN precision-recall curve (module docstring), in [0, 1].

    ``codes`` ``(M, D)``, ``labels`` ``(M,)``; ``k_max`` defaults to ``M - 1``.
    """
    precision, recall = knn_precision_recall(codes, labels, k_max)
    return float((np.diff(recall, prepend=0.0) * precision).sum())


def retrieval_chance(labels: np.ndarray) -> float:
    """The PR-AUC expected of codes unrelated to the label (``k_max = M - 1``): the mean over
    queries with a positive of the share of other fragments sharing their label."""
    labels = _labels("labels", labels)
    positives = _positives(labels)
    if len(labels) < 2 or not positives.any():
        raise UnweaveError("kNN retrieval needs a label shared by at least 2 fragments.")
    return float((positives[positives > 0] / (len(labels) - 1)).mean())


def content_style_report(
    content_codes: np.ndarray,
    style_codes: np.ndarray,
    content_labels: np.ndarray,
    style_labels: np.ndarray,
    k_max: int | None = None,
) -> dict[str, float]:
    """The four kNN PR-AUCs of V3: ``content_code->content`` and ``style_code->style`` (high is
    good), ``style_code->content`` and ``content_code->style`` (low is good), and
    ``chance:content``, ``chance:style``. Codes ``(M, Dc)`` and ``(M, Ds)``, labels ``(M,)``."""
    codes = {"content_code": content_codes, "style_code": style_codes}
    labels = {"content": content_labels, "style": style_labels}
    report = {
        f"{code}->{factor}": knn_pr_auc(values, labels[factor], k_max)
        for code, values in codes.items()
        for factor in labels
    }
    report.update({f"chance:{factor}": retrieval_chance(y) for factor, y in labels.items()})
    return report


# ---------------------------------------------------------------------- codebook


def codebook_confusion(
    indices: np.ndarray, labels: np.ndarray, n_atoms: int, n_labels: int | None = None
) -> np.ndarray:
    """Atoms x labels counts with each used atom's row normalised to sum 1 (unused atoms: a
    row of zeros): ``(n_atoms, n_labels)``. ``indices`` ``(M,)`` VQ atoms, ``labels`` ``(M,)``;
    ``n_labels`` defaults to ``max(labels) + 1``."""
    indices = _labels("indices", indices)
    labels = _labels("labels", labels, len(indices))
    if len(indices) and indices.max() >= n_atoms:
        raise UnweaveError(
            f"An index is {indices.max()}; expected indices below n_atoms={n_atoms}."
        )
    n_labels = int(labels.max()) + 1 if n_labels is None else n_labels
    if len(labels) and labels.max() >= n_labels:
        raise UnweaveError(f"A label is {labels.max()}; expected labels below n_labels={n_labels}.")
    counts = np.zeros((n_atoms, n_labels))
    np.add.at(counts, (indices, labels), 1.0)
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def codebook_purity(matrix: np.ndarray) -> float:
    """V3's codebook accuracy: the mean over *used* atoms (non-zero rows) of the row maximum of
    a row-normalised ``(n_atoms, n_labels)`` confusion matrix (each atom counts once, however
    often it is used). 1.0 when every atom stands for one label."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise UnweaveError(f"The confusion matrix has shape {matrix.shape}; expected 2-D.")
    used = matrix.sum(1) > 0
    if not used.any():
        raise UnweaveError("The confusion matrix has no used atom (every row is zero).")
    return float(matrix[used].max(1).mean())


def atom_order(matrix: np.ndarray) -> np.ndarray:
    """Atoms sorted by their majority label (stable), so the matrix reads like a diagonal."""
    return np.argsort(np.asarray(matrix).argmax(1), kind="stable")


def plot_confusion(
    matrix: np.ndarray,
    atom_names: Sequence[str],
    label_names: Sequence[str],
    path: str | Path,
    sort_atoms: bool = True,
) -> Path:
    """Draw a ``(n_atoms, n_labels)`` confusion matrix as a PNG written atomically to ``path``
    (rows sorted by :func:`atom_order` unless ``sort_atoms`` is off); returns the path."""
    from unweave.viz.plots import save_figure

    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (len(atom_names), len(label_names)):
        raise UnweaveError(
            f"The confusion matrix has shape {matrix.shape}; expected ({len(atom_names)}, "
            f"{len(label_names)}) from the atom and label names."
        )
    order = atom_order(matrix) if sort_atoms else np.arange(len(matrix))
    rows, cols = matrix.shape
    figure = Figure(figsize=(1.5 + 0.3 * cols, 1.0 + 0.3 * rows))
    ax = figure.add_subplot()
    image = ax.imshow(matrix[order], cmap="Purples", vmin=0.0, vmax=1.0, aspect="equal")
    ax.set_xticks(range(cols), [str(name) for name in label_names], rotation=90)
    ax.set_yticks(range(rows), [str(atom_names[i]) for i in order])
    ax.set_xlabel("label")
    ax.set_ylabel("codebook atom")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    figure.tight_layout()
    return save_figure(figure, Path(path))


# ---------------------------------------------------------------------- leakage


def leakage_report(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    s_train: np.ndarray,
    s_test: np.ndarray,
) -> dict[str, float]:
    """Two-Step's evaluation: a *fresh* standardised logistic regression predicts the label
    from frozen codes, fitted on train and scored on test. ``z->label`` should be near
    ``chance`` (the test set's majority share) and ``s->label`` high. Codes ``(N, D)``."""
    y_train = _labels("y_train", y_train)
    y_test = _labels("y_test", y_test)
    z_train = _codes("z_train", z_train, len(y_train))
    s_train = _codes("s_train", s_train, len(y_train))
    z_test = _codes("z_test", z_test, len(y_test))
    s_test = _codes("s_test", s_test, len(y_test))
    if len(np.unique(y_train)) < 2:
        raise UnweaveError("A leakage probe needs at least 2 labels in the training codes.")
    return {
        "z->label": probe_accuracy(z_train, y_train, z_test, y_test),
        "s->label": probe_accuracy(s_train, y_train, s_test, y_test),
        "chance": chance(y_test),
    }


# ---------------------------------------------------------------------- held-out styles


def _nearest(centroids: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Index of the nearest (Euclidean) centroid ``(K, D)`` for every code ``(M, D)``."""
    dist = (codes**2).sum(1)[:, None] - 2.0 * codes @ centroids.T + (centroids**2).sum(1)
    return dist.argmin(1)


def zero_shot_content(
    train_content_codes: np.ndarray,
    train_content: np.ndarray,
    ood_content_codes: np.ndarray,
    ood_content: np.ndarray,
) -> float:
    """Content accuracy on held-out styles with a rule learnt on in-distribution fragments.

    VQ indices ``(M,)`` (integers): each atom predicts its majority training label (atoms
    unused in training predict nothing, counted wrong). Codes ``(M, D)``: the nearest
    training class centroid (Euclidean).
    """
    train_content = _labels("train_content", train_content)
    ood_content = _labels("ood_content", ood_content)
    if np.asarray(train_content_codes).ndim == 1:
        train_atoms = _labels("train_content_codes", train_content_codes, len(train_content))
        ood_atoms = _labels("ood_content_codes", ood_content_codes, len(ood_content))
        n_atoms = int(max(train_atoms.max(), ood_atoms.max())) + 1
        matrix = codebook_confusion(train_atoms, train_content, n_atoms)
        mapping = np.where(matrix.sum(1) > 0, matrix.argmax(1), -1)
        predicted = mapping[ood_atoms]
    else:
        train = _codes("train_content_codes", train_content_codes, len(train_content))
        ood = _codes("ood_content_codes", ood_content_codes, len(ood_content))
        if ood.shape[1] != train.shape[1]:
            raise UnweaveError(
                f"The OOD codes have {ood.shape[1]} dims and the training codes "
                f"{train.shape[1]}; expected the same."
            )
        classes = np.unique(train_content)
        centroids = np.stack([train[train_content == c].mean(0) for c in classes])
        predicted = classes[_nearest(centroids, ood)]
    return float((predicted == ood_content).mean())


def k_shot_style(
    style_codes: np.ndarray, styles: np.ndarray, shots: int, repeats: int = 10, seed: int = 0
) -> float:
    """Style accuracy of held-out styles from ``shots`` labelled fragments per style.

    Per repeat, ``shots`` fragments of every style are drawn at random (seeded) as support;
    their mean style code is the style's centroid and every other fragment is classified by
    the nearest centroid. Returns the accuracy averaged over ``repeats`` draws.
    Codes ``(M, D)``, styles ``(M,)``.
    """
    styles = _labels("styles", styles)
    codes = _codes("style_codes", style_codes, len(styles))
    classes, counts = np.unique(styles, return_counts=True)
    if shots < 1 or counts.min() <= shots:
        raise UnweaveError(
            f"{shots}-shot classification needs more than {shots} fragments of every style "
            f"and shots >= 1; the smallest style has {counts.min()}."
        )
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(repeats):
        support = np.concatenate(
            [rng.choice(np.flatnonzero(styles == c), shots, replace=False) for c in classes]
        )
        centroids = codes[support].reshape(len(classes), shots, -1).mean(1)
        query = np.setdiff1d(np.arange(len(styles)), support)
        predicted = classes[_nearest(centroids, codes[query])]
        accuracies.append((predicted == styles[query]).mean())
    return float(np.mean(accuracies))


def few_shot_accuracy(
    train_content_codes: np.ndarray,
    train_content: np.ndarray,
    ood_content_codes: np.ndarray,
    ood_content: np.ndarray,
    ood_style_codes: np.ndarray,
    ood_styles: np.ndarray,
    shots: Sequence[int] = (1, 5, 10),
    repeats: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Classification of held-out (OOD) styles: ``zero_shot`` (content, by
    :func:`zero_shot_content` from in-distribution VQ indices or codes), ``<k>_shot`` for each
    ``k`` in ``shots`` (style, by :func:`k_shot_style`), and ``chance:content`` and
    ``chance:style`` (the OOD majority shares). Rows are OOD fragments."""
    ood_content = _labels("ood_content", ood_content)
    ood_styles = _labels("ood_styles", ood_styles, len(ood_content))
    report = {
        "zero_shot": zero_shot_content(
            train_content_codes, train_content, ood_content_codes, ood_content
        )
    }
    for k in shots:
        report[f"{k}_shot"] = k_shot_style(ood_style_codes, ood_styles, k, repeats, seed)
    for name, values in (("content", ood_content), ("style", ood_styles)):
        report[f"chance:{name}"] = chance(values)
    return report
