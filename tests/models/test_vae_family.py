"""beta-VAE, beta-TCVAE and FactorVAE: sizes, shapes, the loss terms by hand, the TC estimator
on posteriors with a known answer, permute-dims, FactorVAE's two optimisers, config errors, and
a toy fit."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from unweave.errors import UnweaveError
from unweave.models.vae_family import (
    STUDY_GRIDS,
    BetaTCVAE,
    BetaTCVAEConfig,
    BetaVAE,
    BetaVAEConfig,
    FactorVAE,
    FactorVAEConfig,
    FactorVAEModule,
    ImageVAEConfig,
    bernoulli_reconstruction,
    clipped_log_probabilities,
    permute_dims,
    total_correlation,
)
from unweave.nn.gaussian import Gaussian

MODELS = [BetaVAE, BetaTCVAE, FactorVAE]


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def images(n: int, channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, 64, 64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("channels", [1, 3])
def test_sizes_match_dlib_conv_encoder_and_deconv_decoder(channels: int) -> None:
    """Parameters counted by hand, weights + biases per layer (dlib: convs 4x4, 4x4, 2x2, 2x2)."""
    model = BetaVAE(BetaVAEConfig(channels=channels))
    encoder = (
        (channels * 16 * 32 + 32)  # conv 4x4 -> 32
        + (32 * 16 * 32 + 32)  # conv 4x4 -> 32
        + (32 * 4 * 64 + 64)  # conv 2x2 -> 64
        + (64 * 4 * 64 + 64)  # conv 2x2 -> 64
        + (1024 * 256 + 256)  # Dense 256 on the flattened 64 x 4 x 4
        + 2 * (256 * 10 + 10)  # mean and log-variance heads
    )
    decoder = (
        (10 * 256 + 256)  # Dense 256
        + (256 * 1024 + 1024)  # Dense 1024 -> 64 x 4 x 4
        + (64 * 16 * 64 + 64)  # deconv 4x4 -> 64
        + (64 * 16 * 32 + 32)  # deconv 4x4 -> 32
        + (32 * 16 * 32 + 32)  # deconv 4x4 -> 32
        + (32 * 16 * channels + channels)  # deconv 4x4 -> channels
    )
    assert (count(model.encoder), count(model.decoder)) == (encoder, decoder)
    assert encoder == {1: 309_204, 3: 310_228}[channels]
    assert decoder == {1: 381_313, 3: 382_339}[channels]


def test_discriminator_is_six_dense_layers_of_1000_units() -> None:
    discriminator = FactorVAE(FactorVAEConfig()).discriminator
    assert count(discriminator) == (10 * 1000 + 1000) + 5 * (1000 * 1000 + 1000) + (1000 * 2 + 2)
    slopes = [
        m.negative_slope for m in discriminator.modules() if isinstance(m, torch.nn.LeakyReLU)
    ]
    assert slopes == [0.2] * 6


def test_glorot_uniform_weights_and_zero_biases() -> None:
    """TF1's defaults: every bias 0, every weight within the Glorot uniform bound."""
    model = FactorVAE(FactorVAEConfig(channels=3))
    layers = [
        m
        for m in model.modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]
    assert len(layers) == 7 + 6 + 7  # encoder, decoder, discriminator
    for layer in layers:
        w = layer.weight.detach()
        receptive = w[0, 0].numel()
        bound = math.sqrt(6.0 / ((w.shape[0] + w.shape[1]) * receptive))
        assert float(w.abs().max()) <= bound
        assert float(w.abs().max()) > 0.9 * bound  # uniform, not a narrower distribution
        assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("channels", [1, 3])
def test_contract_shapes_and_detached_terms(cls: type, channels: int, one_thread) -> None:
    config = cls.config_class.from_dict({"channels": channels, "latents": 6})
    model = cls(config)
    assert model.modality == "images"
    assert cls.config_class.from_dict(model.export_config()) == config
    x = images(5, channels)
    (inputs,) = model.batch_inputs({"x": (x * 255).to(torch.uint8)})
    assert inputs.dtype == torch.float32 and float(inputs.max()) <= 1.0
    latents = model.encode(x)
    assert latents.dynamic is None
    assert latents.static.mean.shape == latents.static.logvar.shape == (5, 6)
    code = model.representation(x)
    assert torch.equal(code, latents.static.mean) and not code.requires_grad
    decoded = model.decode(model.sample_static(7))
    assert decoded.shape == (7, channels, 64, 64)
    assert float(decoded.min()) >= 0.0 and float(decoded.max()) <= 1.0
    terms = model.loss(x)
    assert {"loss", "reconstruction", "kl", "elbo"} <= set(terms)
    assert terms["loss"].requires_grad
    assert not any(v.requires_grad for k, v in terms.items() if k != "loss")


def test_bernoulli_reconstruction_by_hand() -> None:
    """Sigmoid cross-entropy summed over pixels, averaged over the batch (2 images of 2x2)."""
    logits = [[0.0, 2.0, -1.0, 3.0], [0.5, -2.0, 1.0, 0.0]]
    x = [[0.0, 1.0, 0.25, 1.0], [1.0, 0.0, 0.5, 0.75]]
    per_image = []
    for row_l, row_x in zip(logits, x, strict=True):
        total = 0.0
        for value, target in zip(row_l, row_x, strict=True):
            p = 1 / (1 + math.exp(-value))
            total -= target * math.log(p) + (1 - target) * math.log(1 - p)
        per_image.append(total)
    got = bernoulli_reconstruction(
        torch.tensor(logits).view(2, 1, 2, 2), torch.tensor(x).view(2, 1, 2, 2)
    )
    assert float(got) == pytest.approx(sum(per_image) / 2, rel=1e-6)


def test_beta_vae_loss_is_the_elbo_at_beta_1_and_scales_the_kl(one_thread) -> None:
    torch.manual_seed(0)
    plain = BetaVAE(BetaVAEConfig(beta=1.0))
    scaled = BetaVAE(BetaVAEConfig(beta=4.0))
    scaled.load_state_dict(plain.state_dict())
    x = images(4)
    torch.manual_seed(5)
    terms = plain.loss(x)
    torch.manual_seed(5)
    terms4 = scaled.loss(x)
    # The terms by hand: the same posterior sample (same seed), KL in closed form.
    posterior = plain.encode(x).static
    torch.manual_seed(5)
    z = posterior.sample()
    probs = plain.decode(z).double()
    rec = -(x * probs.log() + (1 - x) * (1 - probs).log()).sum() / 4
    m, lv = posterior.mean.double(), posterior.logvar.double()
    kl = 0.5 * (m**2 + lv.exp() - lv - 1).sum() / 4
    assert float(terms["reconstruction"]) == pytest.approx(float(rec), rel=1e-4)
    assert float(terms["kl"]) == pytest.approx(float(kl), rel=1e-4)
    assert float(terms["loss"]) == pytest.approx(float(rec + kl), rel=1e-4)
    assert float(terms["elbo"]) == pytest.approx(-float(terms["loss"]), rel=1e-6)
    assert float(terms4["loss"]) == pytest.approx(float(rec + 4 * kl), rel=1e-4)


def synthetic_posteriors(
    means: torch.Tensor, variance: float, generator: torch.Generator
) -> tuple[torch.Tensor, Gaussian]:
    """Posteriors N(means, variance I) ``(B, D)`` and one sample of each."""
    posterior = Gaussian(means, torch.full_like(means, math.log(variance)))
    return means + math.sqrt(variance) * torch.randn(means.shape, generator=generator), posterior


def test_total_correlation_estimate_on_known_answers() -> None:
    """Aggregate posteriors that are N(0, I) (TC 0) and N(0, R) with unit variances and
    correlation 0.9 between 3 codes (TC = -log det(R) / 2 = 1.79 nats), from 1,000 posteriors."""
    g = torch.Generator().manual_seed(0)
    n, dims = 1000, 3
    z, posterior = synthetic_posteriors(torch.randn(n, dims, generator=g) * 0.5**0.5, 0.5, g)
    assert abs(float(total_correlation(z, posterior))) < 0.05
    shared = torch.randn(n, 1, generator=g) * 0.9**0.5
    z, posterior = synthetic_posteriors(shared.expand(n, dims).clone(), 0.1, g)
    correlation = torch.full((dims, dims), 0.9).fill_diagonal_(1.0)
    truth = -0.5 * float(torch.logdet(correlation))
    assert truth == pytest.approx(1.788, abs=1e-3)
    assert float(total_correlation(z, posterior)) == pytest.approx(truth, abs=0.1)


def test_beta_tcvae_loss_adds_beta_minus_one_times_the_tc(one_thread) -> None:
    torch.manual_seed(0)
    model = BetaTCVAE(BetaTCVAEConfig(beta=6.0, latents=4))
    x = images(8)
    torch.manual_seed(3)
    terms, z = model.loss_and_codes(x)
    tc = total_correlation(z, model.encode(x).static)
    assert float(terms["tc"]) == pytest.approx(float(tc), rel=1e-5)
    expected = terms["reconstruction"] + terms["kl"] + 5.0 * terms["tc"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_permute_dims_keeps_each_column_and_breaks_the_dependence() -> None:
    torch.manual_seed(0)
    base = torch.randn(2000, 1)
    z = torch.cat([base, base, -base], dim=1)  # correlations +1 and -1
    shuffled = permute_dims(z)
    assert torch.equal(shuffled.sort(dim=0).values, z.sort(dim=0).values)
    correlation = np.corrcoef(shuffled.T.numpy())
    assert np.abs(correlation[np.triu_indices(3, 1)]).max() < 0.1


def test_factor_vae_tc_term_and_clipped_discriminator_loss(one_thread) -> None:
    torch.manual_seed(0)
    model = FactorVAE(FactorVAEConfig(gamma=10.0, discriminator_units=32))
    x = images(6)
    terms, z = model.loss_and_codes(x)
    logits = model.discriminator(z)
    assert float(terms["tc"]) == pytest.approx(float((logits[:, 0] - logits[:, 1]).mean()))
    expected = terms["reconstruction"] + terms["kl"] + 10.0 * terms["tc"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-5)
    # dlib clips the probabilities to [1e-6, 1 - 1e-6] before the log.
    clipped = clipped_log_probabilities(torch.tensor([[100.0, -100.0]]))
    assert clipped.tolist()[0] == pytest.approx(
        [math.log(1 - 1e-6), math.log(1e-6)],
        rel=1e-6,
        abs=1e-7,  # float32 rounding of 1 - 1e-6
    )
    # The discriminator's loss reaches the discriminator only (the codes are detached).
    model.zero_grad()
    discriminator = model.discriminator_loss(z, z)
    discriminator["loss"].backward()
    assert all(p.grad is None for p in [*model.encoder.parameters(), *model.decoder.parameters()])
    assert all(p.grad is not None for p in model.discriminator.parameters())
    assert 0.0 <= float(discriminator["discriminator_accuracy"]) <= 1.0


class RandomImages(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.x = images(n)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i]}


@pytest.mark.parametrize("discriminator_batch", ["same", "split"])
def test_factor_vae_module_steps_both_optimisers(discriminator_batch: str, one_thread) -> None:
    """Two batches: the VAE's and the discriminator's optimisers each step twice, every part
    moves (Lightning counts both optimisers' steps, hence max_steps=4)."""
    torch.manual_seed(0)
    config = {
        "model": {"discriminator_batch": discriminator_batch},
        "optim": {"name": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 0.0},
    }
    module = FactorVAE.training_module(config)
    assert isinstance(module, FactorVAEModule)
    before = {k: v.clone() for k, v in module.model.state_dict().items()}
    trainer = pl.Trainer(
        max_steps=4,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(RandomImages(8), batch_size=4))
    vae, discriminator = trainer.optimizers
    assert discriminator.defaults["betas"] == (0.5, 0.9) and discriminator.defaults["lr"] == 1e-4
    for optimiser in (vae, discriminator):
        steps = {int(state["step"]) for state in optimiser.state.values()}
        assert steps == {2}
    moved = {
        part: any(
            not torch.equal(before[k], v)
            for k, v in module.model.state_dict().items()
            if k.startswith(part)
        )
        for part in ("encoder", "decoder", "discriminator")
    }
    assert moved == {"encoder": True, "decoder": True, "discriminator": True}
    assert {"train/tc", "train/discriminator_loss"} <= set(trainer.callback_metrics)


@pytest.mark.parametrize(
    ("config_class", "values", "named"),
    [
        (BetaVAEConfig, {"bta": 2.0}, "'model.bta'"),
        (BetaVAEConfig, {"latents": 0}, "model.latents"),
        (ImageVAEConfig, {"channels": 1.5}, "model.channels"),
        (BetaTCVAEConfig, {"beta": -1.0}, "model.beta"),
        (FactorVAEConfig, {"gamma": "large"}, "model.gamma"),
        (FactorVAEConfig, {"discriminator_betas": [0.5]}, "model.discriminator_betas"),
        (FactorVAEConfig, {"discriminator_lr": 0.0}, "model.discriminator_lr"),
        (FactorVAEConfig, {"discriminator_batch": "other"}, "model.discriminator_batch"),
        (FactorVAEConfig, {"beta": 4.0}, "'model.beta'"),
    ],
)
def test_config_errors_name_the_setting(config_class: type, values: dict, named: str) -> None:
    with pytest.raises(UnweaveError, match=named.replace(".", r"\.")) as error:
        config_class.from_dict(values)
    assert "\n" not in str(error.value)


def test_defaults_are_dlib_values_and_lie_in_the_study_grids() -> None:
    assert (ImageVAEConfig().channels, ImageVAEConfig().latents) == (1, 10)
    assert BetaVAEConfig().beta in STUDY_GRIDS["beta-vae"]["beta"]
    assert BetaTCVAEConfig().beta in STUDY_GRIDS["beta-tcvae"]["beta"]
    factor = FactorVAEConfig()
    assert factor.gamma in STUDY_GRIDS["factor-vae"]["gamma"]
    assert (factor.discriminator_layers, factor.discriminator_units) == (6, 1000)
    assert (factor.discriminator_lr, factor.discriminator_betas) == (1e-4, [0.5, 0.9])


def test_wrong_image_shape_is_one_clear_sentence() -> None:
    model = BetaVAE(BetaVAEConfig(channels=3))
    with pytest.raises(UnweaveError, match=r"\(B, 3, 64, 64\).*got \(2, 1, 64, 64\)"):
        model.encode(images(2, channels=1))


def white_squares() -> torch.Tensor:
    """8 images ``(8, 1, 64, 64)``: an 8x8 white square in rows 28..35 at x = 4, 10, ..., 46."""
    x = torch.zeros(8, 1, 64, 64)
    for i in range(8):
        x[i, 0, 28:36, 4 + 6 * i : 12 + 6 * i] = 1.0
    return x


def test_a_beta_vae_learns_the_position_of_a_square(one_thread) -> None:
    """300 full-batch Adam steps (lr 2e-3, not dlib's 1e-4, to be quick; ~20 s on one busy
    thread). The best image that ignores the code (the mean image) costs 171.5 nats per image;
    the reconstruction from the posterior means must fall below 50 nats, which needs the code
    to carry the position. Over seeds 0-7 it ended at 0.7-37 nats."""
    x = white_squares()
    mean_image = x.mean(0, keepdim=True).expand_as(x)
    blind = torch.nn.functional.binary_cross_entropy(mean_image, x, reduction="sum") / 8
    assert float(blind) == pytest.approx(171.5, abs=0.1)
    torch.manual_seed(0)
    model = BetaVAE(BetaVAEConfig())
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(300):
        optimiser.zero_grad()
        model.loss(x)["loss"].backward()
        optimiser.step()
    with torch.no_grad():
        reconstruction = bernoulli_reconstruction(model.decoder(model.representation(x)), x)
    assert float(reconstruction) < 50.0
