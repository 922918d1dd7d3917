"""DBSE and the baseline VAE for time series: shapes, the subtraction, the shift, the mask."""

from __future__ import annotations

import pytest
import torch
from conftest import SHARED_DATA

from unweave.errors import UnweaveError
from unweave.models import build_model
from unweave.training.config import resolve

SMALL = {"n_features": 3, "window": 5, "n_windows": 4, "static_window": 0, "mc_samples": 2}


def dbse(**settings) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("dbse", {**SMALL, **settings}, "series").eval()


def series(batch: int = 2, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(batch, 20, 3, generator=torch.Generator().manual_seed(seed))
    return x, torch.ones_like(x, dtype=torch.bool)


def test_shapes_of_codes_reconstructions_swaps_and_samples() -> None:
    model = dbse()
    x, mask = series(batch=3)
    latents = model.encode(x, mask)
    assert latents.static.mean.shape == (3, 8)
    assert latents.dynamic.mean.shape == (3, 4, 8)
    assert model.decode(latents.static.mean, latents.dynamic.mean).shape == (3, 20, 3)
    assert model.swap(x, x.flip(0)).shape == (3, 20, 3)
    assert model.sample_dynamic(5).shape == (5, 4, 8)
    assert model.sample_static(5).shape == (5, 8)


def test_paper_sizes_match_the_reference_etth1_model() -> None:
    """The reference's modules in use, counted by hand: encoder MLP 4,416; decoder 13,580
    (embedding 544, LSTM 8,448, MLP 4,192, two heads 396); prior 53,264; static GRU, Linear
    and heads 7,920; dynamic LSTM and heads 8,976."""
    model = build_model("dbse", {}, "series")
    assert sum(p.numel() for p in model.parameters()) == 88_156
    baseline = build_model("seqvae", {}, "series")
    assert baseline.dynamic_head.mean.out_features == 16  # f_dim + z_dim per window


def dynamic_means(model: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)  # the same slot noise for both calls
    return model.encode(x, mask).dynamic.mean


@pytest.mark.parametrize("static_window", [0, 2])
def test_a_window_change_moves_only_that_windows_code(static_window: int) -> None:
    model = dbse(static_window=static_window)
    x, mask = series()
    other = 3 if static_window != 3 else 1
    changed = x.clone()
    changed[:, other * 5 : (other + 1) * 5] += 1.0
    before, after = dynamic_means(model, x, mask), dynamic_means(model, changed, mask)
    moved = (before - after).abs().sum(-1).sum(0) > 1e-6
    assert moved.tolist() == [w == other for w in range(4)]
    torch.manual_seed(0)
    f_before = model.encode(x, mask).static.mean
    torch.manual_seed(0)
    assert torch.allclose(f_before, model.encode(changed, mask).static.mean)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("subtracted", [True, True, False, True]), ("raw", [False, False, False, False])],
)
def test_subtraction_ties_each_code_to_the_static_window_raw_does_not(
    mode: str, expected: list[bool]
) -> None:
    """Paper: windows read h_t - h_static, so changing the static window moves every code
    (its own slot holds noise only). Reference code ("raw"): nothing moves."""
    model = dbse(static_window=2, dynamic_input=mode)
    x, mask = series()
    changed = x.clone()
    changed[:, 10:15] += 1.0  # window 2, the static window
    moved = (dynamic_means(model, x, mask) - dynamic_means(model, changed, mask)).abs()
    assert (moved.sum(-1).sum(0) > 1e-6).tolist() == expected


def test_steps_that_are_mostly_missing_are_ignored_by_the_dynamic_path() -> None:
    model = dbse()
    x, mask = series()
    mask[:, 7] = False  # step 7 (window 1) unobserved in every feature
    changed = x.clone()
    changed[:, 7] += 5.0
    assert torch.allclose(dynamic_means(model, x, mask), dynamic_means(model, changed, mask))
    mask[:, 7, :2] = True  # 1 of 3 missing (fewer than int(0.7 * 3) = 2): the step is read
    assert not torch.allclose(dynamic_means(model, x, mask), dynamic_means(model, changed, mask))


def test_loss_terms_are_finite_and_the_nll_ignores_unobserved_cells() -> None:
    model = dbse().train()
    x, mask = series()
    terms = model.loss(x, mask)
    assert set(terms) == {"loss", "nll_seq", "nll_static", "kl_static", "kl_dynamic", "mse"}
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    assert model.encoder[0].weight.grad is not None
    mask[:, :, :] = False
    torch.manual_seed(3)
    assert model.loss(x, mask)["nll_seq"] == 0.0


def test_diverged_weights_give_a_nan_loss_for_the_guard_not_an_exception() -> None:
    model = dbse()
    x, mask = series()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    assert torch.isnan(model.loss(x, mask)["loss"])


def test_baseline_has_no_static_code_and_its_own_loss() -> None:
    model = build_model("seqvae", SMALL, "series")
    x, mask = series()
    latents = model.encode(x, mask)
    assert latents.static is None and latents.dynamic.mean.shape == (2, 4, 16)
    assert set(model.loss(x, mask)) == {"loss", "nll_seq", "kl_dynamic", "mse"}
    with pytest.raises(UnweaveError, match="no static code"):
        model.sample_static(2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dynamic_input": "fancy"}, "dynamic_input is 'fancy'"),
        ({"static_window": 4}, "static_window is 4"),
        ({"windows": 3}, "windows"),
    ],
)
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(UnweaveError, match=message):
        build_model("dbse", {**SMALL, **settings}, "series")


def test_wrong_input_shape_says_what_is_expected() -> None:
    with pytest.raises(UnweaveError, match=r"\(B, 20, 3\).*got x \(2, 21, 3\)"):
        dbse().encode(torch.zeros(2, 21, 3))


REAL = {
    "etth1": SHARED_DATA / "ett",
    "physionet": SHARED_DATA / "physionet2012",
    "air-quality": SHARED_DATA / "air-quality",
}


@pytest.mark.parametrize("name", list(REAL))
@pytest.mark.parametrize("preset", ["cpu", "paper"])
def test_presets_fit_the_real_data(name: str, preset: str) -> None:
    """Each preset's model takes its real data set's series; one loss step is finite."""
    if not REAL[name].exists():
        pytest.skip(f"{REAL[name]} is not on this machine")
    from unweave.data.registry import load_data

    config = resolve("dbse", name, preset, root=str(REAL[name]))
    data = load_data(name, "test", REAL[name])
    model = build_model("dbse", config["model"], "series")
    x, mask = torch.from_numpy(data.x[:2]), torch.from_numpy(data.mask[:2])
    assert torch.isfinite(model.loss(x, mask)["loss"])


@pytest.mark.parametrize("name", ["etth1", "etth2", "physionet", "air-quality", "synthetic-series"])
@pytest.mark.parametrize(("text", "code"), [("paper", "reference"), ("cpu", "cpu-reference")])
def test_reference_presets_are_the_paper_text_ones_with_the_codes_raw_dynamic_input(
    name: str, text: str, code: str
) -> None:
    """The authors' code feeds raw window features to the dynamic LSTM
    (``time_series/model/dbse.py``); the paper's text subtracts the static window's."""
    paper_text, reference = resolve("dbse", name, text), resolve("dbse", name, code)
    assert paper_text["model"]["dynamic_input"] == "subtracted"
    assert reference["model"]["dynamic_input"] == "raw"
    paper_text["model"]["dynamic_input"] = "raw"
    assert reference == paper_text


def test_physionet_prediction_batch_is_the_reference_loaders_30() -> None:
    for preset in ("paper", "reference", "paper-icu"):
        assert resolve("dbse", "physionet", preset)["train"]["batch_size"] == 30
