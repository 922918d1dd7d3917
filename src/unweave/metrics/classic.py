"""The classic disentanglement metrics, with disentanglement_lib's definitions and defaults.

Every metric has a sampling wrapper ``compute_<metric>(representation, data, rng, **settings)``
that draws points from a ground-truth data set (see :class:`GroundTruthData`) and returns a
flat dict of floats. MIG, SAP, DCI and modularity/explicitness also have a pure core
``<metric>_from_codes(codes, factors, ...)`` that works on codes already computed.
``compute(name, ..., preset="reference" | "fast", **settings)`` runs a metric by name with the
settings of a preset (:data:`PRESETS`); ``reference`` equals disentanglement_lib's
``unsupervised_study_v1`` gin settings, ``fast`` is small enough for tests.

Definitions (disentanglement_lib v1.5, ``evaluation/metrics/*.py``), solvers pinned:

- **MIG** (Chen et al. 2018): each code dimension is cut into 20 equal-width bins over its
  range (``np.histogram`` edges without the last, then ``np.digitize``); mutual information
  with each factor by ``sklearn.metrics.mutual_info_score`` (nats); per factor, the gap
  between the two most informative codes divided by the factor's entropy; mean over factors.
- **SAP** (Kumar et al. 2018), the reference default ``continuous_factors=False``: for every
  (code, factor) pair a one-dimensional ``LinearSVC(C=0.01, class_weight="balanced")`` is
  fitted on the train points and scored by accuracy on the test points; per factor the gap
  between the two best codes; mean over factors. The solver is liblinear's primal
  (``dual=False``): the same L2-regularised squared-hinge problem as the dual solver the
  reference used, about ten times faster on 10,000 one-dimensional points. The continuous
  variant (squared correlation on the train points) is available as ``continuous_factors``.
- **DCI** (Eastwood & Williams 2018): one gradient-boosted tree classifier per factor; the
  importance of each code is ``|feature_importances_|`` (each factor's column sums to one).
  Disentanglement and completeness are ``1 - entropy`` of the rows / columns of the importance
  matrix (log base = number of factors / codes, 1e-11 added), weighted by row / column
  totals; informativeness is the mean train / test accuracy. Backend ``"gbt"`` (reference,
  used by every preset): scikit-learn's ``GradientBoostingClassifier(random_state=0)`` with
  its defaults (100 stages, depth 3, learning rate 0.1). The per-factor classifiers are
  fitted in ``n_jobs`` worker processes (joblib's loky backend; default one per factor, at
  most ``os.cpu_count()``), each on one OpenMP thread, factors with the most classes first;
  the numbers are bit-identical to ``n_jobs=1`` (tested). Backend ``"hist"`` is an
  approximate opt-in (1.7 to 6 times faster in our runs on 300 to 4,000 points):
  ``HistGradientBoostingClassifier`` shaped like the reference (100 iterations, depth 3,
  learning rate 0.1, one sample per leaf, no early stopping), its importances recomputed as
  the reference defines them (the boosting is replayed on the train codes and each split
  credited with the squared-error decrease of that iteration's pseudo-residuals). It does
  not track ``gbt`` within 0.01: on the test cases (entangled, redundant and noisy codes,
  10 codes x 4 factors of 2 to 12 classes, 300 train points) it differed by up to 0.05 in
  disentanglement, 0.35 in completeness (codes that repeat a factor: ``hist`` concentrates
  the importance on fewer copies than ``gbt``), 0.01 in train and 0.03 in test
  informativeness. Use it for quick relative looks only, never to compare with ``gbt``
  scores or published numbers.
- **Modularity** (Ridgeway & Kavukcuoglu 2018): from the MIG mutual-information matrix,
  per code ``1 - (sum of squared MI - max squared MI) / (max squared MI * (K - 1))`` (0 for a
  code with no information); mean over codes.
- **Explicitness**: codes standardised with the train mean and standard deviation, one
  ``LogisticRegression(solver="liblinear")`` per factor fitted one-vs-rest (the reference's
  2018 scikit-learn default; today's default is lbfgs multinomial), scored by macro ROC-AUC
  of the predicted probabilities on train and test points.
- **BetaVAE score** (Higgins et al. 2017): each point is a batch of 64 pairs of observations
  that share the value of one randomly chosen factor; its feature is the mean absolute
  difference of the pairs' codes and its label the fixed factor. Classifier: one-vs-rest
  ``LogisticRegression(solver="liblinear")`` (the 2018 default, as above).
- **FactorVAE score** (Kim & Mnih 2018): codes are divided by their standard deviation
  (``ddof=1``) over 10,000 points drawn from the data; dimensions with standard deviation
  below 0.05 are dropped (the gin setting; the code default is 0). Each point is a batch of 64
  observations sharing one random factor's value; it votes for the active dimension with the
  smallest normalised variance. A majority-vote classifier maps dimensions to factors.

Keys (disentanglement_lib's in brackets): ``mig`` (discrete_mig), ``sap`` (SAP_score),
``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness_train``,
``dci_informativeness_test``, ``modularity`` (modularity_score), ``explicitness_train``,
``explicitness_test`` (explicitness_score_*), ``beta_vae_train_accuracy``,
``beta_vae_eval_accuracy``, ``factor_vae_train_accuracy``, ``factor_vae_eval_accuracy``,
``factor_vae_num_active_dims``: prefixed so that several metrics fit in one flat dict.
``batch_size`` of MIG, SAP, DCI and modularity is the number of points per representation
call, as in disentanglement_lib; for BetaVAE and FactorVAE it is the group size of the
definition (the representation then sees whole groups, up to 1,024 observations a call).

Deliberate differences from disentanglement_lib: random numbers come from a
``numpy.random.Generator`` and points are drawn in a different order, so scores match the
reference in distribution, not digit for digit; every scikit-learn estimator gets
``random_state=0``; a code dimension with zero spread is standardised with a divisor of 1
instead of 0 (the reference produced NaN); explicitness averages the AUC over the classes
present with both labels in a split (the reference crashed when a test split lacked a
class); ``factor_vae_num_active_dims`` counts the active dimensions (the reference reported the
total number of dimensions).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import sklearn
from joblib import Parallel, delayed
from scipy.special import expit, softmax
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from unweave.errors import UnweaveError, check_known_keys

Representation = Callable[[np.ndarray], np.ndarray]

#: Settings per metric. ``reference``: disentanglement_lib's unsupervised_study_v1 gin files.
#: ``fast``: small sample counts, for tests and quick looks. Both fit DCI with the reference
#: backend ``gbt`` (``hist`` is approximate, see the module docstring).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "reference": {
        "mig": {"num_train": 10000, "batch_size": 16, "num_bins": 20},
        "sap": {
            "num_train": 10000,
            "num_test": 5000,
            "batch_size": 16,
            "continuous_factors": False,
        },
        "dci": {
            "num_train": 10000,
            "num_test": 5000,
            "batch_size": 16,
            "backend": "gbt",
            "n_jobs": None,
        },
        "modularity_explicitness": {
            "num_train": 10000,
            "num_test": 5000,
            "batch_size": 16,
            "num_bins": 20,
        },
        "beta_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000},
        "factor_vae": {
            "batch_size": 64,
            "num_train": 10000,
            "num_eval": 5000,
            "num_variance_estimate": 10000,
            "prune_threshold": 0.05,
        },
    },
    "fast": {
        "mig": {"num_train": 2000, "batch_size": 500, "num_bins": 20},
        "sap": {"num_train": 1000, "num_test": 500, "batch_size": 500, "continuous_factors": False},
        "dci": {
            "num_train": 1000,
            "num_test": 500,
            "batch_size": 500,
            "backend": "gbt",
            "n_jobs": None,
        },
        "modularity_explicitness": {
            "num_train": 1000,
            "num_test": 500,
            "batch_size": 500,
            "num_bins": 20,
        },
        "beta_vae": {"batch_size": 64, "num_train": 500, "num_eval": 250},
        "factor_vae": {
            "batch_size": 64,
            "num_train": 500,
            "num_eval": 250,
            "num_variance_estimate": 1000,
            "prune_threshold": 0.05,
        },
    },
}

DCI_BACKENDS = ("gbt", "hist")

#: The intervention metrics call the representation on at most this many observations at once.
INTERVENTION_CALL_SIZE = 1024

#: scikit-learn version the pinned solvers were checked against (scores are recorded with it).
SKLEARN_VERSION = sklearn.__version__


# --------------------------------------------------------------------------- ground truth


class GroundTruthData(Protocol):
    """A data set whose factors can be sampled and turned into observations.

    ``factor_sizes`` lists the number of values of each of the K factors (a mapping from
    factor name to size is accepted too).
    """

    factor_sizes: Sequence[int] | Mapping[str, int]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, K)`` int factor values, factor k in ``[0, factor_sizes[k])``."""
        ...

    def observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Observations ``(n, ...)`` for ``(n, K)`` factor values."""
        ...


@dataclass(frozen=True)
class FactorCodes:
    """Ground truth whose observations are the factor values themselves, ``(n, K)`` float.

    With the identity as representation its codes are the factors (plus Gaussian noise of
    standard deviation ``noise``): the known-answer case every metric is checked on.
    """

    factor_sizes: tuple[int, ...]
    noise: float = 0.0

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, K)`` int64 factors drawn uniformly and independently."""
        return rng.integers(0, self.factor_sizes, size=(n, len(self.factor_sizes)))

    def observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """``(n, K)`` float64: the factor values, plus noise if ``noise > 0``."""
        observations = np.asarray(factors, dtype=np.float64)
        if self.noise > 0:
            observations = observations + self.noise * rng.standard_normal(observations.shape)
        return observations


def _factor_sizes(data: GroundTruthData) -> list[int]:
    """The K factor sizes of ``data`` as a list of ints, checked."""
    if not hasattr(data, "factor_sizes") or not hasattr(data, "sample_factors"):
        raise UnweaveError(
            f"{type(data).__name__} is not ground-truth data: it needs factor_sizes, "
            "sample_factors(n, rng) and observations_from_factors(factors, rng)."
        )
    sizes = data.factor_sizes
    sizes = list(sizes.values()) if isinstance(sizes, Mapping) else list(sizes)
    if not sizes or any(int(size) < 1 for size in sizes):
        raise UnweaveError(
            f"factor_sizes is {sizes}; expected at least one factor, each with 1 or more values."
        )
    return [int(size) for size in sizes]


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# --------------------------------------------------------------------------- input checks


def _check_codes(codes: Any, what: str) -> np.ndarray:
    """``codes`` as an ``(N, D)`` float64 array of finite numbers."""
    array = np.asarray(codes)
    if array.ndim != 2:
        raise UnweaveError(f"{what} have shape {array.shape}; expected (N, D), one row per point.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise UnweaveError(f"{what} have dtype {array.dtype}; expected numbers.")
    array = array.astype(np.float64, copy=False)
    not_finite = ~np.isfinite(array)
    if not_finite.any():
        n_nan = int(np.isnan(array).sum())
        n_inf = int(not_finite.sum()) - n_nan
        raise UnweaveError(
            f"{what} contain {int(not_finite.sum())} non-finite values ({n_nan} NaN, {n_inf} "
            f"infinite) in an array of shape {array.shape}; every code must be a finite number."
        )
    return array


def _check_factors(factors: Any, what: str) -> np.ndarray:
    """``factors`` as an ``(N, K)`` int64 array of class labels."""
    array = np.asarray(factors)
    if array.ndim != 2:
        raise UnweaveError(
            f"{what} have shape {array.shape}; expected (N, K), one column per factor."
        )
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64, copy=False)
    if not np.issubdtype(array.dtype, np.floating):
        raise UnweaveError(f"{what} have dtype {array.dtype}; expected integer factor values.")
    not_integral = ~np.isfinite(array) | (array != np.round(array))
    if not_integral.any():
        raise UnweaveError(
            f"{what} contain {int(not_integral.sum())} values that are not whole numbers; "
            "factors must be integer class labels."
        )
    return array.astype(np.int64)


def _check_rows_match(codes: np.ndarray, factors: np.ndarray, split: str) -> None:
    if len(codes) != len(factors):
        raise UnweaveError(
            f"{split} codes have {len(codes)} rows but {split} factors have {len(factors)}; "
            "row i of the codes must be the code of row i of the factors."
        )


def _check_enough_points(metric: str, what: str, given: int, needed: int) -> None:
    if given < needed:
        plural = "s" if needed != 1 else ""
        raise UnweaveError(f"{metric} needs at least {needed} {what}{plural}; got {given}.")


def _check_factors_vary(factors: np.ndarray, metric: str, split: str, reason: str) -> None:
    single = np.flatnonzero(factors.min(axis=0) == factors.max(axis=0))
    if single.size:
        index = int(single[0])
        raise UnweaveError(
            f"factor {index} takes a single value ({int(factors[0, index])}) in all "
            f"{len(factors)} {split} points; {metric} needs every factor to take at least two "
            f"values ({reason})."
        )


def _checked_split(
    codes: Any, factors: Any, split: str, metric: str, min_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(N, D)`` float codes and ``(N, K)`` int factors of one split."""
    codes = _check_codes(codes, f"{split} codes")
    factors = _check_factors(factors, f"{split} factors")
    _check_rows_match(codes, factors, split)
    _check_enough_points(metric, f"{split} point", len(codes), min_points)
    return codes, factors


def _check_test_like_train(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
) -> None:
    if test_codes.shape[1] != train_codes.shape[1]:
        raise UnweaveError(
            f"test codes have {test_codes.shape[1]} dimensions but train codes have "
            f"{train_codes.shape[1]}; both must come from the same representation."
        )
    if test_factors.shape[1] != train_factors.shape[1]:
        raise UnweaveError(
            f"test factors have {test_factors.shape[1]} columns but train factors have "
            f"{train_factors.shape[1]}; both must describe the same factors."
        )


def _check_min_columns(metric: str, what: str, given: int, needed: int, reason: str) -> None:
    if given < needed:
        raise UnweaveError(f"{metric} needs at least {needed} {what} ({reason}); got {given}.")


# --------------------------------------------------------------------------- shared pieces


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin each dimension of ``(N, D)`` codes into ``num_bins`` equal-width bins over its range.

    Returns ``(N, D)`` int64 bin numbers in ``1..num_bins`` (``np.histogram`` edges without
    the last edge, then ``np.digitize``, as disentanglement_lib does).
    """
    binned = np.empty(codes.shape, dtype=np.int64)
    for dim in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, dim], bins=num_bins)
        binned[:, dim] = np.digitize(codes[:, dim], edges[:-1])
    return binned


def mutual_information_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``(D, K)`` mutual information in nats between ``(N, D)`` and ``(N, K)`` discrete arrays.

    Each entry is ``sklearn.metrics.mutual_info_score`` of the pair, given the pair's
    contingency table (built once per pair with one ``np.bincount``).
    """
    code_labels = [np.unique(column, return_inverse=True)[1] for column in discrete_codes.T]
    factor_labels = [np.unique(column, return_inverse=True)[1] for column in factors.T]
    information = np.zeros((len(code_labels), len(factor_labels)))
    for i, code in enumerate(code_labels):
        n_code = int(code.max()) + 1
        for j, factor in enumerate(factor_labels):
            n_factor = int(factor.max()) + 1
            table = np.bincount(code * n_factor + factor, minlength=n_code * n_factor)
            information[i, j] = mutual_info_score(
                None, None, contingency=table.reshape(n_code, n_factor)
            )
    return information


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """``(K,)`` entropy in nats of each column of ``(N, K)`` factors (``MI(y, y)``)."""
    return np.array([mutual_info_score(column, column) for column in factors.T])


def _top_two_gap(scores: np.ndarray) -> np.ndarray:
    """``(K,)`` best minus second-best entry of each column of ``(D, K)`` scores."""
    ordered = np.sort(scores, axis=0)
    return ordered[-1] - ordered[-2]


# --------------------------------------------------------------------------- MIG


def mig_from_codes(
    codes: np.ndarray, factors: np.ndarray, *, num_bins: int = 20
) -> dict[str, float]:
    """Mutual information gap of ``(N, D)`` codes for ``(N, K)`` int factors.

    Returns ``{"mig": float}`` (disentanglement_lib's ``discrete_mig``).
    """
    codes, factors = _checked_split(codes, factors, "train", "MIG", min_points=2)
    _check_min_columns(
        "MIG", "code dimensions", codes.shape[1], 2, "it compares the two most informative codes"
    )
    _check_factors_vary(factors, "MIG", "train", "it divides by each factor's entropy")
    information = mutual_information_matrix(histogram_discretize(codes, num_bins), factors)
    gaps = _top_two_gap(information) / factor_entropies(factors)
    return {"mig": float(np.mean(gaps))}


# --------------------------------------------------------------------------- SAP


def sap_score_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    continuous_factors: bool = False,
) -> np.ndarray:
    """``(D, K)`` predictiveness of each factor from each single code dimension.

    Discrete factors: test accuracy of a one-dimensional balanced ``LinearSVC(C=0.01)``.
    Continuous factors: squared correlation on the train points (0 for a constant code).
    """
    n_codes, n_factors = train_codes.shape[1], train_factors.shape[1]
    if continuous_factors:
        centred_codes = train_codes - train_codes.mean(axis=0)
        centred_factors = train_factors - train_factors.mean(axis=0)
        covariance = centred_codes.T @ centred_factors / (len(train_codes) - 1)
        code_variance = (centred_codes**2).sum(axis=0) / (len(train_codes) - 1)
        factor_variance = (centred_factors**2).sum(axis=0) / (len(train_codes) - 1)
        scores = covariance**2 / (np.maximum(code_variance, 1e-12)[:, None] * factor_variance)
        return np.where(code_variance[:, None] > 1e-12, scores, 0.0)
    scores = np.zeros((n_codes, n_factors))
    for i in range(n_codes):
        for j in range(n_factors):
            classifier = LinearSVC(C=0.01, class_weight="balanced", dual=False, random_state=0)
            classifier.fit(train_codes[:, i : i + 1], train_factors[:, j])
            predicted = classifier.predict(test_codes[:, i : i + 1])
            scores[i, j] = np.mean(predicted == test_factors[:, j])
    return scores


def sap_from_codes(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """SAP score of ``(N, D)`` codes for ``(N, K)`` factors, trained on train, scored on test.

    Returns ``{"sap": float}`` (disentanglement_lib's ``SAP_score``).
    """
    train_codes, train_factors = _checked_split(train_codes, train_factors, "train", "SAP", 2)
    test_codes, test_factors = _checked_split(test_codes, test_factors, "test", "SAP", 1)
    _check_test_like_train(train_codes, train_factors, test_codes, test_factors)
    _check_min_columns(
        "SAP", "code dimensions", train_codes.shape[1], 2, "it compares the two best codes"
    )
    _check_factors_vary(train_factors, "SAP", "train", "a classifier needs two classes")
    scores = sap_score_matrix(
        train_codes, train_factors, test_codes, test_factors, continuous_factors=continuous_factors
    )
    return {"sap": float(np.mean(_top_two_gap(scores)))}


# --------------------------------------------------------------------------- DCI


@dataclass(frozen=True)
class _RoutedIteration:
    """The trees of one boosting iteration (one per class) with the train codes routed.

    The trees' node records are stacked into one table, children re-indexed into it. A
    visit is one (tree, point) pair, numbered ``tree * N + point``.
    """

    nodes: np.ndarray
    left: np.ndarray  # (n_nodes,) left child in the stacked table (a leaf points to itself)
    right: np.ndarray  # (n_nodes,) right child in the stacked table (a leaf points to itself)
    splits_by_depth: list[np.ndarray]  # split nodes, deepest first
    leaf_of_visit: np.ndarray  # (n_trees * N,) the leaf each visit ends in
    outputs: np.ndarray  # (N, n_trees) the value of that leaf

    def node_sums(self, weights: np.ndarray) -> np.ndarray:
        """``(n_nodes,)`` sum of the ``(n_trees * N,)`` visit weights that pass each node."""
        sums = np.bincount(self.leaf_of_visit, weights, minlength=len(self.nodes))
        for split in self.splits_by_depth:
            sums[split] = sums[self.left[split]] + sums[self.right[split]]
        return sums


def _route_iteration(trees: list, columns: np.ndarray, n_points: int) -> _RoutedIteration:
    """Send the train codes down all trees of one iteration at once.

    ``columns`` holds the ``(N, D)`` codes column by column, flattened to ``(D * N,)``.
    Leaves loop to themselves, so every visit takes the same number of steps.
    """
    sizes = [len(tree.nodes) for tree in trees]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    nodes = np.concatenate([tree.nodes for tree in trees])
    is_leaf = nodes["is_leaf"].astype(bool)
    itself = np.arange(len(nodes))
    shift = np.repeat(offsets, sizes)
    left = np.where(is_leaf, itself, nodes["left"].astype(np.intp) + shift)
    right = np.where(is_leaf, itself, nodes["right"].astype(np.intp) + shift)
    column_start = np.where(is_leaf, 0, nodes["feature_idx"].astype(np.intp) * n_points)
    threshold = np.where(is_leaf, np.inf, nodes["num_threshold"])
    point = np.tile(np.arange(n_points), len(trees))
    position = np.repeat(offsets, n_points)
    depth = nodes["depth"].astype(np.intp)
    for _ in range(int(depth.max())):
        goes_left = columns.take(column_start[position] + point) <= threshold[position]
        position = np.where(goes_left, left[position], right[position])
    splits_by_depth = [
        np.flatnonzero(~is_leaf & (depth == level)) for level in range(depth.max(), -1, -1)
    ]
    outputs = nodes["value"][position].reshape(len(trees), n_points).T
    return _RoutedIteration(nodes, left, right, splits_by_depth, position, outputs)


def _add_split_importances(
    routed: _RoutedIteration, residuals: np.ndarray, totals: np.ndarray
) -> None:
    """Add to ``(D,)`` totals each split's squared-error decrease of its tree's residuals.

    ``residuals`` is ``(N, n_trees)``. The decrease is ``S_l^2/n_l + S_r^2/n_r - S^2/n``
    (S: residual sum, n: count in a node), the impurity decrease scikit-learn's
    GradientBoostingClassifier sums into ``feature_importances_`` for its regression trees
    fitted to the same residuals.
    """
    node_sum = routed.node_sums(residuals.T.ravel())
    count = np.maximum(routed.node_sums(np.ones(residuals.size)), 1)
    split = np.concatenate(routed.splits_by_depth)
    left, right = routed.left[split], routed.right[split]
    decrease = (
        node_sum[left] ** 2 / count[left]
        + node_sum[right] ** 2 / count[right]
        - node_sum[split] ** 2 / count[split]
    )
    np.add.at(totals, routed.nodes["feature_idx"][split], decrease)


def _residual_importances(
    model: HistGradientBoostingClassifier, codes: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """``(D,)`` importances of a fitted HistGradientBoostingClassifier, summing to 1 (or 0).

    Replays the boosting on the ``(N, D)`` train codes, walking back from the final raw
    predictions: each iteration's pseudo-residuals (``onehot - softmax(raw)``, or
    ``y - sigmoid(raw)`` for two classes) are scored against that iteration's splits.
    """
    onehot = (labels[:, None] == model.classes_[None, :]).astype(np.float64)
    raw = model.decision_function(codes).reshape(len(codes), -1)
    totals = np.zeros(codes.shape[1])
    columns = np.ascontiguousarray(codes.T).ravel()
    try:
        for trees in reversed(model._predictors):
            routed = _route_iteration(trees, columns, len(codes))
            raw = raw - routed.outputs
            if raw.shape[1] == 1:
                residuals = onehot[:, -1:] - expit(raw)
            else:
                residuals = onehot - softmax(raw, axis=1)
            _add_split_importances(routed, residuals, totals)
        # Walking back through every tree must end at the constant baseline prediction.
        replayed = np.allclose(raw, raw[0], atol=1e-6)
    except (AttributeError, KeyError, ValueError, IndexError, TypeError):
        replayed = False
    if not replayed:
        raise UnweaveError(
            f"DCI backend 'hist' could not replay the trees of scikit-learn {SKLEARN_VERSION}'s "
            "HistGradientBoostingClassifier (its internals changed); use backend='gbt'."
        )
    totals = np.abs(totals)
    total = totals.sum()
    return totals / total if total > 0 else totals


def _fit_factor_classifier(backend: str, codes: np.ndarray, labels: np.ndarray):
    """A fitted boosted-tree classifier and its ``(D,)`` importances summing to 1 (or 0)."""
    if backend == "gbt":
        model = GradientBoostingClassifier(random_state=0).fit(codes, labels)
        return model, np.abs(model.feature_importances_)
    model = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_depth=3,
        max_leaf_nodes=None,
        min_samples_leaf=1,
        l2_regularization=0.0,
        early_stopping=False,
        random_state=0,
    ).fit(codes, labels)
    return model, _residual_importances(model, codes, labels)


def _fit_and_score_factor(
    backend: str,
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
) -> tuple[np.ndarray, float, float]:
    """One factor's ``(D,)`` importances, train and test accuracy, fitted on one OpenMP thread.

    One thread: these small trees gain little from threads, and on a busy machine
    HistGradientBoosting's thread barriers made a 0.06 s fit take a minute.
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        model, importance = _fit_factor_classifier(backend, train_codes, train_labels)
        train_accuracy = float(np.mean(model.predict(train_codes) == train_labels))
        test_accuracy = float(np.mean(model.predict(test_codes) == test_labels))
    return importance, train_accuracy, test_accuracy


def default_dci_jobs(num_factors: int) -> int:
    """Worker processes DCI uses by default: one per factor, at most one per CPU."""
    return max(1, min(num_factors, os.cpu_count() or 1))


def dci_importance_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    backend: str = "gbt",
    n_jobs: int | None = None,
) -> tuple[np.ndarray, float, float]:
    """``(D, K)`` importance of each code for each factor, mean train and test accuracy.

    The per-factor classifiers are fitted in ``n_jobs`` processes (joblib's loky backend;
    default :func:`default_dci_jobs`), each on one thread; ``n_jobs=1`` fits them in this
    process. The results do not depend on ``n_jobs``.
    """
    if backend not in DCI_BACKENDS:
        raise UnweaveError(f"DCI backend '{backend}' is unknown; expected one of {DCI_BACKENDS}.")
    num_factors = train_factors.shape[1]
    n_jobs = default_dci_jobs(num_factors) if n_jobs is None else n_jobs
    if not isinstance(n_jobs, int | np.integer) or isinstance(n_jobs, bool) or n_jobs < 1:
        raise UnweaveError(f"DCI needs n_jobs to be a whole number of at least 1; got {n_jobs!r}.")
    n_jobs = min(int(n_jobs), num_factors)
    # Most classes first (a K-class model fits K trees a stage), so the workers end together.
    num_classes = [len(np.unique(train_factors[:, j])) for j in range(num_factors)]
    order = sorted(range(num_factors), key=lambda j: -num_classes[j])
    tasks = [
        delayed(_fit_and_score_factor)(
            backend, train_codes, train_factors[:, j], test_codes, test_factors[:, j]
        )
        for j in order
    ]
    if n_jobs == 1:
        fitted = [function(*args, **kwargs) for function, args, kwargs in tasks]
    else:
        fitted = Parallel(n_jobs=n_jobs, backend="loky", batch_size=1)(tasks)
    results = dict(zip(order, fitted, strict=True))
    importance = np.column_stack([results[j][0] for j in range(num_factors)])
    train_accuracy = np.mean([results[j][1] for j in range(num_factors)])
    test_accuracy = np.mean([results[j][2] for j in range(num_factors)])
    return importance, float(train_accuracy), float(test_accuracy)


def dci_disentanglement(importance: np.ndarray) -> float:
    """Disentanglement of a ``(D, K)`` importance matrix: weighted ``1 - H_K(row)``."""
    per_code = 1.0 - entropy(importance.T + 1e-11, base=importance.shape[1])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    code_weight = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * code_weight))


def dci_completeness(importance: np.ndarray) -> float:
    """Completeness of a ``(D, K)`` importance matrix: weighted ``1 - H_D(column)``."""
    per_factor = 1.0 - entropy(importance + 1e-11, base=importance.shape[0])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    factor_weight = importance.sum(axis=0) / importance.sum()
    return float(np.sum(per_factor * factor_weight))


def dci_from_codes(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    backend: str = "gbt",
    n_jobs: int | None = None,
) -> dict[str, float]:
    """DCI of ``(N, D)`` codes for ``(N, K)`` factors; one boosted-tree model per factor.

    Returns ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness_train`` and
    ``dci_informativeness_test`` (accuracies, as in disentanglement_lib). ``n_jobs``: worker
    processes for the per-factor fits (see :func:`dci_importance_matrix`).
    """
    train_codes, train_factors = _checked_split(train_codes, train_factors, "train", "DCI", 2)
    test_codes, test_factors = _checked_split(test_codes, test_factors, "test", "DCI", 1)
    _check_test_like_train(train_codes, train_factors, test_codes, test_factors)
    _check_min_columns(
        "DCI", "code dimensions", train_codes.shape[1], 2, "completeness is an entropy over codes"
    )
    _check_min_columns(
        "DCI", "factors", train_factors.shape[1], 2, "disentanglement is an entropy over factors"
    )
    _check_factors_vary(train_factors, "DCI", "train", "a classifier needs two classes")
    importance, train_accuracy, test_accuracy = dci_importance_matrix(
        train_codes, train_factors, test_codes, test_factors, backend=backend, n_jobs=n_jobs
    )
    return {
        "dci_disentanglement": dci_disentanglement(importance),
        "dci_completeness": dci_completeness(importance),
        "dci_informativeness_train": train_accuracy,
        "dci_informativeness_test": test_accuracy,
    }


# --------------------------------------------------------------------------- modularity


def modularity(information: np.ndarray) -> float:
    """Modularity of a ``(D, K)`` mutual-information matrix (mean over codes)."""
    squared = information**2
    largest = squared.max(axis=1)
    rest = squared.sum(axis=1) - largest
    with np.errstate(divide="ignore", invalid="ignore"):
        per_code = 1.0 - rest / (largest * (squared.shape[1] - 1.0))
    per_code[largest == 0.0] = 0.0
    return float(np.mean(per_code))


def _one_vs_rest_logistic() -> OneVsRestClassifier:
    """Logistic regression as scikit-learn's 2018 default: liblinear, C=1, one-vs-rest."""
    return OneVsRestClassifier(LogisticRegression(solver="liblinear", C=1.0, random_state=0))


def _macro_auc(labels: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    """Mean one-vs-rest ROC-AUC over the classes with both labels present in ``labels``."""
    aucs = []
    for column, value in enumerate(classes):
        positive = labels == value
        if positive.any() and not positive.all():
            aucs.append(roc_auc_score(positive, probabilities[:, column]))
    return float(np.mean(aucs)) if aucs else float("nan")


def modularity_explicitness_from_codes(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    *,
    num_bins: int = 20,
) -> dict[str, float]:
    """Modularity (train points) and explicitness (train and test AUC) of ``(N, D)`` codes.

    Returns ``modularity``, ``explicitness_train`` and ``explicitness_test``.
    """
    train_codes, train_factors = _checked_split(
        train_codes, train_factors, "train", "modularity/explicitness", 2
    )
    test_codes, test_factors = _checked_split(
        test_codes, test_factors, "test", "modularity/explicitness", 1
    )
    _check_test_like_train(train_codes, train_factors, test_codes, test_factors)
    _check_min_columns(
        "modularity/explicitness",
        "factors",
        train_factors.shape[1],
        2,
        "modularity compares a code's information across factors",
    )
    _check_factors_vary(train_factors, "explicitness", "train", "a classifier needs two classes")
    information = mutual_information_matrix(
        histogram_discretize(train_codes, num_bins), train_factors
    )
    mean = train_codes.mean(axis=0)
    spread = train_codes.std(axis=0)
    spread[spread == 0.0] = 1.0
    train_standard, test_standard = (train_codes - mean) / spread, (test_codes - mean) / spread
    train_auc, test_auc = [], []
    for j in range(train_factors.shape[1]):
        classifier = _one_vs_rest_logistic().fit(train_standard, train_factors[:, j])
        for standard, factors, aucs in (
            (train_standard, train_factors, train_auc),
            (test_standard, test_factors, test_auc),
        ):
            probabilities = classifier.predict_proba(standard)
            aucs.append(_macro_auc(factors[:, j], probabilities, classifier.classes_))
    return {
        "modularity": modularity(information),
        "explicitness_train": float(np.nanmean(train_auc)),
        "explicitness_test": float(np.nanmean(test_auc)),
    }


# --------------------------------------------------------------------------- sampling


def _encode(
    representation: Representation,
    data: GroundTruthData,
    factors: np.ndarray,
    rng: np.random.Generator,
    call_size: int,
) -> np.ndarray:
    """``(M, D)`` codes of the observations of ``(M, K)`` factors, ``call_size`` per call."""
    chunks = []
    for start in range(0, len(factors), call_size):
        part = factors[start : start + call_size]
        observations = data.observations_from_factors(part, rng)
        codes = np.asarray(representation(observations))
        if codes.ndim != 2 or len(codes) != len(part):
            raise UnweaveError(
                f"the representation returned shape {codes.shape} for {len(part)} "
                f"observations; expected ({len(part)}, D)."
            )
        if chunks and codes.shape[1] != chunks[0].shape[1]:
            raise UnweaveError(
                f"the representation returned {codes.shape[1]} dimensions after returning "
                f"{chunks[0].shape[1]}; it must return the same number every call."
            )
        chunks.append(codes)
    return _check_codes(np.concatenate(chunks), "codes returned by the representation")


def _sample_codes(
    representation: Representation,
    data: GroundTruthData,
    n: int,
    rng: np.random.Generator,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, D)`` codes and the ``(n, K)`` factors they were made from."""
    factors = _check_factors(data.sample_factors(n, rng), "sampled factors")
    return _encode(representation, data, factors, rng, batch_size), factors


def _check_setting_at_least(metric: str, name: str, value: int, needed: int) -> None:
    if int(value) < needed:
        raise UnweaveError(f"{metric} needs {name} of at least {needed}; got {value}.")


def _sample_train_test(
    metric: str,
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    num_train: int,
    num_test: int,
    batch_size: int,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Checked settings, then ``(codes, factors)`` for ``num_train`` and ``num_test`` points."""
    rng = _as_generator(rng)
    _factor_sizes(data)  # checks that data is ground truth
    _check_setting_at_least(metric, "num_train", num_train, 2)
    _check_setting_at_least(metric, "num_test", num_test, 1)
    train = _sample_codes(representation, data, num_train, rng, batch_size)
    test = _sample_codes(representation, data, num_test, rng, batch_size)
    return train, test


def compute_mig(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    *,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict[str, float]:
    """MIG of ``representation`` on ``num_train`` points drawn from ``data``."""
    rng = _as_generator(rng)
    _factor_sizes(data)  # checks that data is ground truth
    _check_setting_at_least("MIG", "num_train", num_train, 2)
    codes, factors = _sample_codes(representation, data, num_train, rng, batch_size)
    return mig_from_codes(codes, factors, num_bins=num_bins)


def compute_sap(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """SAP of ``representation``, classifiers fitted on ``num_train`` and scored on ``num_test``."""
    train, test = _sample_train_test(
        "SAP", representation, data, rng, num_train, num_test, batch_size
    )
    return sap_from_codes(*train, *test, continuous_factors=continuous_factors)


def compute_dci(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    backend: str = "gbt",
    n_jobs: int | None = None,
) -> dict[str, float]:
    """DCI of ``representation``; ``backend`` is ``"gbt"`` (reference) or ``"hist"``
    (approximate); ``n_jobs`` worker processes fit the per-factor classifiers."""
    if backend not in DCI_BACKENDS:
        raise UnweaveError(f"DCI backend '{backend}' is unknown; expected one of {DCI_BACKENDS}.")
    train, test = _sample_train_test(
        "DCI", representation, data, rng, num_train, num_test, batch_size
    )
    return dci_from_codes(*train, *test, backend=backend, n_jobs=n_jobs)


def compute_modularity_explicitness(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict[str, float]:
    """Modularity and explicitness of ``representation`` (Ridgeway & Kavukcuoglu 2018)."""
    train, test = _sample_train_test(
        "modularity/explicitness", representation, data, rng, num_train, num_test, batch_size
    )
    return modularity_explicitness_from_codes(*train, *test, num_bins=num_bins)


# --------------------------------------------------------------------------- interventions


def _encode_groups(
    representation: Representation,
    data: GroundTruthData,
    factors: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(P, B, D)`` codes of ``(P, B, K)`` factor groups, whole groups per call."""
    n_groups, group_size, n_factors = factors.shape
    call_size = max(1, INTERVENTION_CALL_SIZE // group_size) * group_size
    codes = _encode(representation, data, factors.reshape(-1, n_factors), rng, call_size)
    return codes.reshape(n_groups, group_size, -1)


def beta_vae_features(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator,
    num_points: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(P, D)`` mean absolute code differences of pair batches and ``(P,)`` fixed factors."""
    n_factors = len(_factor_sizes(data))
    fixed = rng.integers(n_factors, size=num_points)
    shape = (num_points, batch_size, n_factors)
    first = _check_factors(data.sample_factors(num_points * batch_size, rng), "sampled factors")
    second = _check_factors(data.sample_factors(num_points * batch_size, rng), "sampled factors")
    first, second = first.reshape(shape), second.reshape(shape)
    points = np.arange(num_points)
    second[points, :, fixed] = first[points, :, fixed]
    first_codes = _encode_groups(representation, data, first, rng)
    second_codes = _encode_groups(representation, data, second, rng)
    return np.abs(first_codes - second_codes).mean(axis=1), fixed


def compute_beta_vae(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> dict[str, float]:
    """BetaVAE score: accuracy of predicting the fixed factor from pair-difference features.

    Returns ``beta_vae_train_accuracy`` and ``beta_vae_eval_accuracy``.
    """
    rng = _as_generator(rng)
    n_factors = len(_factor_sizes(data))
    _check_min_columns("BetaVAE", "factors", n_factors, 2, "its classifier tells factors apart")
    _check_setting_at_least("BetaVAE", "batch_size", batch_size, 1)
    _check_setting_at_least("BetaVAE", "num_train", num_train, 2)
    _check_setting_at_least("BetaVAE", "num_eval", num_eval, 1)
    train_features, train_labels = beta_vae_features(
        representation, data, rng, num_train, batch_size
    )
    if np.unique(train_labels).size < 2:
        raise UnweaveError(
            f"BetaVAE drew the same fixed factor for all {num_train} training points; "
            "it needs at least two, so raise num_train."
        )
    classifier = _one_vs_rest_logistic().fit(train_features, train_labels)
    train_accuracy = np.mean(classifier.predict(train_features) == train_labels)
    eval_features, eval_labels = beta_vae_features(representation, data, rng, num_eval, batch_size)
    eval_accuracy = np.mean(classifier.predict(eval_features) == eval_labels)
    return {
        "beta_vae_train_accuracy": float(train_accuracy),
        "beta_vae_eval_accuracy": float(eval_accuracy),
    }


def factor_vae_votes(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator,
    num_points: int,
    batch_size: int,
    global_variance: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """``(K, D)`` vote counts: how often fixing factor k made dimension d vary least."""
    n_factors = len(_factor_sizes(data))
    fixed = rng.integers(n_factors, size=num_points)
    factors = _check_factors(data.sample_factors(num_points * batch_size, rng), "sampled factors")
    factors = factors.reshape(num_points, batch_size, n_factors)
    points = np.arange(num_points)
    factors[points, :, fixed] = factors[points, 0, fixed][:, None]
    codes = _encode_groups(representation, data, factors, rng)
    local_variance = codes[:, :, active].var(axis=1, ddof=1)
    least_varying = np.flatnonzero(active)[
        np.argmin(local_variance / global_variance[active], axis=1)
    ]
    votes = np.zeros((n_factors, len(global_variance)), dtype=np.int64)
    np.add.at(votes, (fixed, least_varying), 1)
    return votes


def compute_factor_vae(
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """FactorVAE score: majority-vote accuracy of the least-varying dimension per fixed factor.

    Returns ``factor_vae_train_accuracy``, ``factor_vae_eval_accuracy`` and
    ``factor_vae_num_active_dims`` (all 0 when no dimension has std >= ``prune_threshold``).
    """
    rng = _as_generator(rng)
    _factor_sizes(data)
    _check_setting_at_least("FactorVAE", "batch_size", batch_size, 2)
    _check_setting_at_least("FactorVAE", "num_variance_estimate", num_variance_estimate, 2)
    _check_setting_at_least("FactorVAE", "num_train", num_train, 1)
    _check_setting_at_least("FactorVAE", "num_eval", num_eval, 1)
    prior_codes, _ = _sample_codes(
        representation, data, num_variance_estimate, rng, INTERVENTION_CALL_SIZE
    )
    global_variance = prior_codes.var(axis=0, ddof=1)
    active = np.sqrt(global_variance) >= prune_threshold
    if not active.any():
        return {
            "factor_vae_train_accuracy": 0.0,
            "factor_vae_eval_accuracy": 0.0,
            "factor_vae_num_active_dims": 0.0,
        }
    vote_args = (representation, data, rng)
    train_votes = factor_vae_votes(*vote_args, num_train, batch_size, global_variance, active)
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(train_votes.shape[1])
    eval_votes = factor_vae_votes(*vote_args, num_eval, batch_size, global_variance, active)
    return {
        "factor_vae_train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "factor_vae_eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "factor_vae_num_active_dims": float(active.sum()),
    }


# --------------------------------------------------------------------------- by name

METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "mig": compute_mig,
    "sap": compute_sap,
    "dci": compute_dci,
    "modularity_explicitness": compute_modularity_explicitness,
    "beta_vae": compute_beta_vae,
    "factor_vae": compute_factor_vae,
}


def compute(
    name: str,
    representation: Representation,
    data: GroundTruthData,
    rng: np.random.Generator | int,
    preset: str = "reference",
    **settings: Any,
) -> dict[str, float]:
    """Run metric ``name`` with the settings of ``preset``, overridden by ``settings``."""
    if name not in METRICS:
        close = difflib.get_close_matches(name, sorted(METRICS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnweaveError(
            f"Unknown metric '{name}'; expected one of: {', '.join(sorted(METRICS))}.{hint}"
        )
    if preset not in PRESETS:
        raise UnweaveError(f"Unknown metric preset '{preset}'; expected one of {sorted(PRESETS)}.")
    known = PRESETS[preset][name]
    check_known_keys(f"metrics.{name}", settings, set(known))
    return METRICS[name](representation, data, rng, **{**known, **settings})
