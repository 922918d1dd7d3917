"""Known answers of the classic metrics (fast preset) and their one-sentence input errors."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from unweave.errors import UnweaveError
from unweave.metrics.classic import (
    METRICS,
    PRESETS,
    FactorCodes,
    compute,
    dci_completeness,
    dci_disentanglement,
    dci_from_codes,
    dci_importance_matrix,
    mig_from_codes,
    modularity,
    modularity_explicitness_from_codes,
    sap_from_codes,
)

SIZES = (3, 4, 5, 6, 8)
PERMUTATION = np.array([2, 4, 0, 1, 3])
SCALES = np.array([0.5, 2.0, -1.5, 3.0, 0.7])


def permuted_scaled(observations: np.ndarray) -> np.ndarray:
    """Factor values with columns permuted and scaled (one sign flipped): ``(n, K)``."""
    return observations[:, PERMUTATION] * SCALES


def constant(observations: np.ndarray) -> np.ndarray:
    """The same code for every point: ``(n, K)`` zeros."""
    return np.zeros_like(observations)


def duplicated(observations: np.ndarray) -> np.ndarray:
    """Factor 0 copied into every code dimension: ``(n, K)``."""
    return np.repeat(observations[:, :1], observations.shape[1], axis=1)


CASES = {
    "identity": (lambda x: x, FactorCodes(SIZES)),
    "noisy_identity": (lambda x: x, FactorCodes(SIZES, noise=0.05)),
    "permuted_scaled": (permuted_scaled, FactorCodes(SIZES)),
    "constant": (constant, FactorCodes(SIZES)),
    "duplicated": (duplicated, FactorCodes(SIZES)),
}
GOOD = ["identity", "noisy_identity", "permuted_scaled"]


@cache
def scores(case: str, metric: str, **settings) -> dict[str, float]:
    """The fast-preset scores of one case (computed once per test session)."""
    representation, data = CASES[case]
    return compute(metric, representation, data, np.random.default_rng(0), "fast", **settings)


def sample_codes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Identity codes ``(n, K)`` float and their factors ``(n, K)`` int."""
    rng = np.random.default_rng(seed)
    factors = FactorCodes(SIZES).sample_factors(n, rng)
    return factors.astype(float), factors


# ----------------------------------------------------------------- known answers


@pytest.mark.parametrize("case", GOOD)
def test_disentangled_codes_score_about_one(case: str):
    assert scores(case, "mig")["mig"] > 0.95
    dci = scores(case, "dci")
    assert dci["dci_disentanglement"] > 0.95
    assert dci["dci_completeness"] > 0.95
    assert dci["dci_informativeness_test"] > 0.95
    modular = scores(case, "modularity_explicitness")
    assert modular["modularity"] > 0.95
    assert modular["explicitness_test"] > 0.9
    assert scores(case, "beta_vae")["beta_vae_eval_accuracy"] > 0.99
    factor_vae = scores(case, "factor_vae")
    assert factor_vae["factor_vae_eval_accuracy"] > 0.99
    assert factor_vae["factor_vae_num_active_dims"] == len(SIZES)


@pytest.mark.parametrize("case", GOOD)
def test_disentangled_codes_score_high_on_sap(case: str):
    # Discrete SAP (the reference default) is capped below 1: a one-dimensional linear
    # classifier cannot single out the middle values of a factor, and the second-best code
    # scores chance. The continuous variant (squared correlation) reaches ~1.
    assert scores(case, "sap")["sap"] > 0.35
    assert scores(case, "sap", continuous_factors=True)["sap"] > 0.95


def test_constant_codes_score_zero_or_chance():
    assert scores("constant", "mig")["mig"] == pytest.approx(0.0, abs=1e-9)
    assert scores("constant", "sap")["sap"] == pytest.approx(0.0, abs=1e-9)
    dci = scores("constant", "dci")
    assert abs(dci["dci_disentanglement"]) < 0.01
    assert abs(dci["dci_completeness"]) < 0.01
    modular = scores("constant", "modularity_explicitness")
    assert modular["modularity"] == 0.0
    assert modular["explicitness_test"] == pytest.approx(0.5)
    chance = 1 / len(SIZES)
    assert abs(scores("constant", "beta_vae")["beta_vae_eval_accuracy"] - chance) < 0.08
    assert scores("constant", "factor_vae") == {
        "factor_vae_train_accuracy": 0.0,
        "factor_vae_eval_accuracy": 0.0,
        "factor_vae_num_active_dims": 0.0,
    }


def test_duplicated_codes_give_no_gap_and_low_disentanglement():
    assert scores("duplicated", "mig")["mig"] < 0.05
    assert scores("duplicated", "sap")["sap"] < 0.05
    assert scores("duplicated", "dci")["dci_disentanglement"] < 0.2


def mixed_split(
    case: str, sizes: tuple[int, ...], num_train: int, num_test: int, num_codes: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test ``(codes, factors)`` of one DCI backend case, factors scaled to +-0.5.

    ``entangled``: each code a random mix of all factors (+ noise 0.05); ``redundant``: each
    factor copied into several codes (+ noise 0.01, so no exact ties); ``noisy``: each code a
    copy of one factor + noise 0.5.
    """
    rng = np.random.default_rng(0)
    n = num_train + num_test
    factors = rng.integers(0, sizes, size=(n, len(sizes)))
    scaled = (factors - (np.array(sizes) - 1) / 2) / np.array(sizes)
    owner = np.arange(num_codes) % len(sizes)
    if case == "entangled":
        mixing = rng.standard_normal((len(sizes), num_codes))
        codes = scaled @ mixing + 0.05 * rng.standard_normal((n, num_codes))
    else:
        noise = {"redundant": 0.01, "noisy": 0.5}[case]
        codes = scaled[:, owner] + noise * rng.standard_normal((n, num_codes))
    return codes[:num_train], factors[:num_train], codes[num_train:], factors[num_train:]


#: The largest ``|hist - gbt|`` stated in the module docstring and docs/evaluation.md, over
#: the cases of :func:`test_dci_hist_differences_stay_within_the_stated_bounds`.
HIST_BOUNDS = {
    "dci_disentanglement": 0.05,
    "dci_completeness": 0.35,
    "dci_informativeness_train": 0.01,
    "dci_informativeness_test": 0.03,
}


@cache
def hist_and_gbt(case: str) -> tuple[dict[str, float], dict[str, float]]:
    """DCI of one :func:`mixed_split` case (300 + 100 points, 2 to 12 classes) per backend."""
    split = mixed_split(case, (2, 3, 5, 12), num_train=300, num_test=100)
    return dci_from_codes(*split, backend="hist"), dci_from_codes(*split, backend="gbt")


@pytest.mark.parametrize("case", ["entangled", "redundant", "noisy"])
def test_dci_hist_differences_stay_within_the_stated_bounds(case: str):
    approximate, reference = hist_and_gbt(case)
    for key, bound in HIST_BOUNDS.items():
        assert abs(approximate[key] - reference[key]) <= bound, key


def test_dci_hist_misses_0_01_so_no_preset_uses_it():
    approximate, reference = hist_and_gbt("entangled")
    assert abs(approximate["dci_disentanglement"] - reference["dci_disentanglement"]) > 0.01
    approximate, reference = hist_and_gbt("redundant")
    assert abs(approximate["dci_completeness"] - reference["dci_completeness"]) > 0.1
    assert all(preset["dci"]["backend"] == "gbt" for preset in PRESETS.values())


def test_dci_parallel_fits_are_bit_identical_to_serial():
    split = mixed_split("entangled", (2, 3, 4), num_train=200, num_test=100, num_codes=5)
    serial = dci_importance_matrix(*split, n_jobs=1)
    parallel = dci_importance_matrix(*split, n_jobs=2)
    assert np.array_equal(serial[0], parallel[0])
    assert serial[1:] == parallel[1:]


# ----------------------------------------------------------------- pure pieces


def test_mig_matches_a_direct_sklearn_computation():
    rng = np.random.default_rng(2)
    factors = rng.integers(0, [4, 7], size=(500, 2))
    codes = np.column_stack([factors[:, 0] + rng.normal(0, 0.8, 500), rng.normal(size=500)])
    codes = np.column_stack([codes, codes[:, 0] + factors[:, 1]])
    binned = [np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in codes.T]
    information = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned])
    top = np.sort(information, axis=0)
    entropies = [mutual_info_score(f, f) for f in factors.T]
    expected = np.mean((top[-1] - top[-2]) / entropies)
    assert mig_from_codes(codes, factors)["mig"] == pytest.approx(expected, rel=1e-12)


def test_dci_and_modularity_on_hand_made_matrices():
    assert dci_disentanglement(np.eye(3)) == pytest.approx(1.0)
    assert dci_completeness(np.eye(3)) == pytest.approx(1.0)
    assert dci_disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    # One code explains both factors: not disentangled, but complete.
    one_code = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert dci_disentanglement(one_code) == pytest.approx(0.0, abs=1e-9)
    assert dci_completeness(one_code) == pytest.approx(1.0)
    assert modularity(np.diag([0.5, 1.0, 2.0])) == pytest.approx(1.0)
    assert modularity(np.array([[1.0, 1.0], [0.0, 0.0]])) == 0.0


def test_factor_codes_sample_in_range():
    data = FactorCodes(SIZES)
    factors = data.sample_factors(1000, np.random.default_rng(0))
    assert factors.shape == (1000, len(SIZES))
    assert (factors.min(axis=0) == 0).all()
    assert (factors.max(axis=0) == np.array(SIZES) - 1).all()
    assert np.array_equal(data.observations_from_factors(factors, None), factors)


def test_presets_cover_every_metric_with_the_same_settings():
    assert set(PRESETS["reference"]) == set(PRESETS["fast"]) == set(METRICS)
    for name in METRICS:
        assert set(PRESETS["reference"][name]) == set(PRESETS["fast"][name])


# ----------------------------------------------------------------- bad input


def error_message(call, *args, **kwargs) -> str:
    with pytest.raises(UnweaveError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.endswith((".", "?"))
    return message


def test_non_finite_codes_are_counted_and_named():
    codes, factors = sample_codes(100)
    codes[3, 1] = codes[7, 2] = np.nan
    codes[9, 0] = np.inf
    message = error_message(mig_from_codes, codes, factors)
    assert "train codes contain 3 non-finite values (2 NaN, 1 infinite)" in message
    good_codes, good_factors = sample_codes(50, seed=1)
    message = error_message(sap_from_codes, good_codes, good_factors, codes, factors)
    assert message.startswith("test codes contain 3")


def test_non_finite_codes_from_a_representation_are_reported():
    def broken(observations: np.ndarray) -> np.ndarray:
        return np.where(observations == 0, np.nan, observations)

    message = error_message(compute, "mig", broken, FactorCodes(SIZES), 0, "fast")
    assert "codes returned by the representation contain" in message


def test_single_valued_factor_is_named():
    codes, factors = sample_codes(200)
    factors[:, 2] = 4
    for call in (
        lambda: mig_from_codes(codes, factors),
        lambda: sap_from_codes(codes, factors, codes, factors),
        lambda: dci_from_codes(codes, factors, codes, factors, backend="hist"),
        lambda: modularity_explicitness_from_codes(codes, factors, codes, factors),
    ):
        assert "factor 2 takes a single value (4) in all 200 train points" in error_message(call)


def test_too_few_points_say_given_and_needed():
    codes, factors = sample_codes(10)
    message = error_message(mig_from_codes, codes[:1], factors[:1])
    assert message == "MIG needs at least 2 train points; got 1."
    message = error_message(dci_from_codes, codes, factors, codes[:0], factors[:0])
    assert message == "DCI needs at least 1 test point; got 0."
    data = FactorCodes(SIZES)
    message = error_message(compute, "factor_vae", lambda x: x, data, 0, "fast", batch_size=1)
    assert message == "FactorVAE needs batch_size of at least 2; got 1."
    message = error_message(compute, "sap", lambda x: x, data, 0, "fast", num_train=1)
    assert message == "SAP needs num_train of at least 2; got 1."


def test_length_mismatch_is_reported():
    codes, factors = sample_codes(10)
    message = error_message(mig_from_codes, codes, factors[:9])
    assert message.startswith("train codes have 10 rows but train factors have 9")


def test_other_bad_inputs_are_one_sentence():
    codes, factors = sample_codes(20)
    assert "not whole numbers" in error_message(mig_from_codes, codes, factors + 0.5)
    assert "expected (N, D)" in error_message(mig_from_codes, codes[:, 0], factors)
    assert "at least 2 code dimensions" in error_message(mig_from_codes, codes[:, :1], factors)
    split = (codes, factors, codes, factors)
    assert "backend 'xgb' is unknown" in error_message(dci_from_codes, *split, backend="xgb")
    assert "n_jobs to be a whole number of at least 1; got 0" in error_message(
        dci_from_codes, *split, n_jobs=0
    )
    data = FactorCodes(SIZES)
    assert "Did you mean 'mig'?" in error_message(compute, "migg", lambda x: x, data, 0)
    message = error_message(compute, "mig", lambda x: x, data, 0, "fast", num_bin=10)
    assert "Unknown setting 'metrics.mig.num_bin'" in message
    message = error_message(compute, "mig", lambda x: x[:-1], data, 0, "fast")
    assert message.startswith("the representation returned shape (499, 5) for 500 observations")
