"""DiD: shapes, the gradient penalty, the encoder and difference losses on toy generators with
known answers, the gradient routing of the generator step, the WGAN-GP schedule, exact resume,
config errors, and a tiny run where E learns to read G's codes."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from unweave.errors import UnweaveError
from unweave.models.did import (
    DiD,
    DiDConfig,
    DiDModule,
    difference_objective,
    gradient_penalty,
    scaled_gradient,
)
from unweave.training.run import RNGStateCheckpoint

TINY = {"generator_width": 4, "critic_width": 4}


def random_batches(n: int, batch_size: int, channels: int = 1, seed: int = 0) -> DataLoader:
    """``n`` random uint8 images ``(channels, 64, 64)`` in unshuffled batches of dicts."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, 64, 64), dtype=torch.uint8, generator=generator)
    return DataLoader([{"x": image} for image in x], batch_size=batch_size, drop_last=True)


def trainer(max_steps: int, callbacks: list | None = None) -> pl.Trainer:
    return pl.Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks or [],
    )


class CodeImages(nn.Module):
    """A toy linear generator: code ``(B, D)`` -> images ``(B, 1, 64, 64)`` whose first ``D``
    pixels (row-major) are the code and the rest 0."""

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        pixels = torch.zeros(codes.shape[0], 64 * 64)
        pixels[:, : codes.shape[1]] = codes
        return pixels.view(-1, 1, 64, 64)


class FirstPixels(nn.Module):
    """Reads the first ``dims`` pixels of each image: the inverse of :class:`CodeImages`."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, : self.dims]


class PixelChange(nn.Module):
    """A Difference Encoder for :class:`CodeImages` pairs stacked on channels: the change of the
    first ``dims`` pixels, which is ``delta * e_i`` when code dimension ``i`` changed."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return (pair[:, 1] - pair[:, 0]).flatten(1)[:, : self.dims]


class Constant(nn.Module):
    """The same output ``(B, K)`` for every input."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], -1)


def toy_model(**settings) -> DiD:
    """A DiD whose generator is :class:`CodeImages` (one channel)."""
    model = DiD(DiDConfig.from_dict({**TINY, **settings}))
    model.generator = CodeImages()
    return model


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_the_model_contract(channels: int, one_thread) -> None:
    torch.manual_seed(0)
    model = DiD(DiDConfig(channels=channels))
    x = torch.rand(2, channels, 64, 64)
    latents = model.encode(x)
    assert latents.static.mean.shape == (2, 10) and latents.dynamic is None
    assert torch.equal(latents.static.sample(), latents.static.mean)  # zero variance
    assert torch.equal(model.representation(x), model.sample_encoder(x))
    codes = model.sample_static(5)
    assert codes.shape == (5, 10) and codes.abs().max() <= 1  # U(-1, 1)
    images = model.decode(codes)
    assert images.shape == (5, channels, 64, 64) and images.min() >= 0 and images.max() <= 1
    assert model.difference(x, x.flip(0)).shape == (2, 10)
    assert model.perturbed_codes(4).shape == (12, 10)
    expected = {
        "critic_loss": {"critic_loss", "wasserstein", "gradient_penalty"},
        "generator_loss": {"generator_loss", "adversarial", "encoder_mse", "difference"},
        "encoder_loss": {"encoder_mse"},
        "difference_loss": {"difference"},
    }
    for method, terms in expected.items():
        out = getattr(model, method)(x if method == "critic_loss" else 2)
        assert set(out) == {"loss", *terms}, method
        assert out["loss"].requires_grad and out["loss"].ndim == 0
        assert not any(out[k].requires_grad for k in terms)
    assert model.export_config() == DiDConfig(channels=channels).__dict__
    batch = model.batch_inputs({"x": torch.full((2, channels, 64, 64), 255, dtype=torch.uint8)})
    assert batch[0].dtype == torch.float32 and torch.equal(batch[0], torch.ones_like(batch[0]))
    with pytest.raises(UnweaveError, match=rf"shape \(B, {channels}, 64, 64\).*\(2, 2, 64, 64\)"):
        model.encode(torch.rand(2, 2, 64, 64))


def test_sample_encoder_is_dlib_conv_encoder_with_one_head() -> None:
    """dlib's conv_encoder (309,204 weights for one channel) without its log-variance head
    (256 x 10 + 10): 306,634."""
    assert sum(p.numel() for p in DiD(DiDConfig()).sample_encoder.parameters()) == 306_634


def test_critic_has_no_batch_norm() -> None:
    for norm, count in (("layer", 3), ("none", 0)):
        critic = DiD(DiDConfig(critic_norm=norm, **TINY)).critic
        assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
        assert sum(isinstance(m, nn.GroupNorm) for m in critic.modules()) == count


def test_codes_differ_from_c_in_one_dimension_each_and_never_the_same_one() -> None:
    torch.manual_seed(0)
    model = toy_model(code_dim=3, prior="gaussian")
    c, c1, c2 = model.perturbed_codes(2000).chunk(3)
    changed1, changed2 = c1 != c, c2 != c
    assert (changed1.sum(1) == 1).all() and (changed2.sum(1) == 1).all()
    i, j = changed1.float().argmax(1), changed2.float().argmax(1)
    assert (i != j).all()
    counts = torch.bincount(i * 3 + j, minlength=9).float() / 2000  # the 6 ordered pairs
    assert torch.allclose(counts[[1, 2, 3, 5, 6, 7]], torch.full((6,), 1 / 6), atol=0.03)
    assert abs(c.std().item() - 1) < 0.05  # N(0, 1) prior


def test_gradient_penalty_of_a_linear_critic_by_hand() -> None:
    """For D(x) = w.x + b the gradient is w at every x, so GP = lambda * (||w|| - 1)^2 and its
    gradient in w is 2 * lambda * (||w|| - 1) * w / ||w||."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 1))
    real, fake = torch.rand(5, 2, 3, 3), torch.rand(5, 2, 3, 3)
    penalty = gradient_penalty(critic, real, fake, weight=10.0)
    w = critic[1].weight.detach()
    norm = w.norm()
    assert penalty.item() == pytest.approx(10 * (norm.item() - 1) ** 2, rel=1e-5)
    penalty.backward()
    assert torch.allclose(critic[1].weight.grad, 2 * 10 * (norm - 1) * w / norm, rtol=1e-4)
    critic[1].weight.data = w / norm  # a 1-Lipschitz linear critic is not penalised
    assert gradient_penalty(critic, real, fake, weight=10.0).item() == pytest.approx(0, abs=1e-10)


def test_critic_loss_is_the_negated_wasserstein_estimate_plus_the_penalty(one_thread) -> None:
    torch.manual_seed(0)
    model = DiD(DiDConfig(**TINY))
    out = model.critic_loss(torch.rand(4, 1, 64, 64))
    assert out["loss"].item() == pytest.approx(
        (-out["wasserstein"] + out["gradient_penalty"]).item(), rel=1e-6
    )
    assert out["gradient_penalty"] > 0
    out["loss"].backward()
    assert all(p.grad is None for p in model.generator.parameters())  # fakes are detached
    assert all(p.grad is not None for p in model.critic.parameters())


def test_encoder_loss_is_zero_for_an_encoder_that_inverts_the_generator() -> None:
    torch.manual_seed(0)
    model = toy_model()
    model.sample_encoder = FirstPixels(10)
    assert model.encoder_loss(64)["loss"].item() == 0.0
    model.sample_encoder = Constant(torch.zeros(1, 10))  # predicts 0: MSE = E[c^2] = 1/3
    assert model.encoder_loss(1500)["loss"].item() == pytest.approx(1 / 3, rel=0.02)


def test_difference_loss_is_lower_for_an_h_that_separates_the_dimensions() -> None:
    """With the toy generator a change of dimension i moves pixel i only, so the separating H
    gives ``v1 = d1 e_i`` and ``v2 = d2 e_j`` (i != j): unit vectors at a right angle, L_H = -2.
    A constant H gives v1 = v2: L_H = 0. The bound: opposite directions give -4."""
    torch.manual_seed(0)
    model = toy_model()
    model.difference_encoder = PixelChange(10)
    separating = model.difference_loss(64)["loss"].item()
    model.difference_encoder = Constant(torch.randn(1, 10))
    constant = model.difference_loss(64)["loss"].item()
    assert separating == pytest.approx(-2.0, abs=1e-6) and constant == pytest.approx(0, abs=1e-6)
    v = torch.randn(3, 5)
    assert difference_objective(v, -7 * v).item() == pytest.approx(-4.0, abs=1e-6)
    assert difference_objective(v, 100 * v).item() == pytest.approx(0.0, abs=1e-6)


def test_scaled_gradient_keeps_the_value_and_scales_the_gradient() -> None:
    x = torch.randn(4, requires_grad=True)
    y = scaled_gradient(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.allclose(x.grad, 0.25 * torch.arange(4.0))


def grads(module: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() if p.grad is not None else None for p in module.parameters()]


def test_generator_step_routes_each_loss_to_its_part(one_thread) -> None:
    """``E`` gets L_enc's gradient and ``H`` L_H's whatever the weights; ``G`` gets the
    adversarial gradient plus the weighted encoder terms, so with both weights 0 it gets the
    adversarial gradient alone, and with weight w on L_enc (L_H off) ``G``'s extra gradient is
    w times L_enc's."""
    torch.manual_seed(0)
    model = DiD(DiDConfig(**TINY))
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def run(loss_of) -> DiD:
        model.load_state_dict(state)  # the same BN statistics for every run
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same codes for every run
        loss_of(model).backward()
        return model

    def generator(w_encoder: float, w_difference: float):
        def loss_of(m: DiD) -> torch.Tensor:
            m.config.w_encoder, m.config.w_difference = w_encoder, w_difference
            return m.generator_loss(3)["loss"]

        return loss_of

    def by_hand(m: DiD, w: float) -> torch.Tensor:
        pairs = m.generate_pairs(3)
        return -m.critic(pairs.parts()[0]).mean() + w * m.encoder_term(pairs)

    plain = grads(run(generator(0.0, 0.0)).generator)
    encoder_grads = grads(model.sample_encoder)
    difference_grads = grads(model.difference_encoder)
    assert all(g is not None for g in encoder_grads + difference_grads)
    adversarial = grads(run(lambda m: by_hand(m, 0.0)).generator)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(plain, adversarial, strict=True))
    weighted = grads(run(generator(0.3, 0.0)).generator)
    assert all(
        torch.equal(a, b) for a, b in zip(grads(model.sample_encoder), encoder_grads, strict=True)
    )
    expected = grads(run(lambda m: by_hand(m, 0.3)).generator)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(weighted, expected, strict=True))
    assert not all(torch.allclose(a, b) for a, b in zip(weighted, plain, strict=True))


class StepRecorder(pl.Callback):
    """Which optimiser stepped, in order, and the weights at the start."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.start: dict[str, torch.Tensor] = {}

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        for name, optimizer in zip(("critic", "generator"), trainer.optimizers, strict=True):
            optimizer.register_step_post_hook(lambda *_, name=name: self.order.append(name))
        self.start = {k: v.clone() for k, v in module.model.state_dict().items()}


def test_module_steps_the_critic_n_critic_times_per_generator_step(one_thread) -> None:
    torch.manual_seed(0)
    module = DiDModule({"model": {**TINY, "n_critic": 3}})
    recorder = StepRecorder()
    fit = trainer(8, [recorder])
    fit.fit(module, random_batches(12, 2))  # 6 batches an epoch: the cycle spans epochs
    assert recorder.order == (["critic"] * 3 + ["generator"]) * 2
    assert fit.global_step == 8  # one optimiser step per batch
    end = module.model.state_dict()
    for part in ("generator", "critic", "sample_encoder", "difference_encoder"):
        weights = [k for k in end if k.startswith(part + ".") and k.endswith("weight")]
        assert weights and all(not torch.equal(recorder.start[k], end[k]) for k in weights), part
    assert fit.callback_metrics.keys() >= {
        f"train/{k}"
        for k in ("critic_loss", "wasserstein", "gradient_penalty", "generator_loss")
        + ("adversarial", "encoder_mse", "difference")
    }


class Kill(pl.Callback):
    """Stops a run with an error at the start of step ``at``, as a killed process would."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step == self.at:
            raise RuntimeError("killed")


def test_a_killed_run_resumes_as_if_never_stopped(tmp_path, one_thread) -> None:
    """A 2-epoch run (5 batches an epoch, n_critic 2) killed at step 7 and resumed from its
    epoch-end checkpoint (step 5, mid-cycle: the next step is a generator step) ends with the
    same weights as the same run never stopped. (With ``max_steps`` instead of ``max_epochs``,
    Lightning 2.6 re-enters the finished epoch for one extra batch on resume, whatever the
    module: the run is then not the same.)"""

    def fit(folder: str, extra: list, ckpt_path: str | None = None) -> DiDModule:
        torch.manual_seed(0)
        module = DiDModule({"model": {**TINY, "n_critic": 2}})
        checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / folder, filename="last")
        run = pl.Trainer(
            max_epochs=2,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[checkpoint, RNGStateCheckpoint(), *extra],
        )
        run.fit(module, random_batches(10, 2), ckpt_path=ckpt_path)
        assert run.global_step == 10
        return module

    straight = fit("straight", [])
    with pytest.raises(RuntimeError, match="killed"):
        fit("killed", [Kill(at=7)])
    torch.manual_seed(123)  # the resumed run must not depend on the state at launch
    resumed = fit("killed", [], str(tmp_path / "killed" / "last.ckpt"))
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"code_dims": 10}, "Did you mean 'model.code_dim'"),
        ({"code_dim": 1}, "model.code_dim is 1; expected an integer >= 2"),
        ({"difference_dim": 1}, "model.difference_dim is 1"),
        ({"channels": 2}, "model.channels is 2; expected 1 or 3"),
        ({"prior": "laplace"}, "model.prior is 'laplace'"),
        ({"critic_norm": "batch"}, "model.critic_norm is 'batch'.*no batch norm"),
        ({"n_critic": 0}, "model.n_critic is 0"),
        ({"gp_weight": -1.0}, "model.gp_weight is -1.0"),
        ({"w_difference": math.nan}, "model.w_difference is nan"),
        ({"lr": 0}, "model.lr is 0; expected a number > 0"),
        ({"betas": [0.5]}, r"model.betas is \[0.5\]"),
        ({"encoder_betas": [0.9, 1.0]}, "model.encoder_betas is"),
    ],
)
def test_config_errors_name_the_setting(values: dict, message: str) -> None:
    with pytest.raises(UnweaveError, match=message):
        DiDConfig.from_dict(values)


def test_defaults_are_the_wgan_gp_values() -> None:
    c = DiDConfig()
    assert (c.gp_weight, c.n_critic, c.lr, c.betas) == (10.0, 5, 1e-4, [0.0, 0.9])
    assert (c.code_dim, c.generator_width, c.critic_width, c.critic_norm) == (10, 64, 64, "layer")


def test_a_tiny_run_teaches_e_to_read_the_code_of_g(one_thread) -> None:
    """120 generator iterations (n_critic 1, batches of 16 random images, widths 8, E and H at
    lr 1e-3): E recovers the codes of G's images (eval mode, 512 fresh codes) with R^2 >= 0.75
    (0.86-0.92 over seeds 0-2 when written; about 0 before training). 35-45 s on one thread."""
    torch.manual_seed(0)
    settings = {"generator_width": 8, "critic_width": 8, "n_critic": 1, "encoder_lr": 1e-3}
    module = DiDModule({"model": settings})
    model = module.model

    def r_squared() -> float:
        model.eval()
        with torch.no_grad():
            codes = model.sample_static(512)
            predicted = model.representation(model.decode(codes))
        model.train()
        residual = (predicted - codes).pow(2).sum()
        return 1 - (residual / (codes - codes.mean(0)).pow(2).sum()).item()

    assert abs(r_squared()) < 0.1
    trainer(240).fit(module, random_batches(256, 16))
    assert r_squared() >= 0.75
