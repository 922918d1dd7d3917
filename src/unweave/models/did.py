"""DiD: Disentanglement in Difference (Zhang, Liu, Lu, Pang, Wang, Yang, 2025; arXiv 2502.03123).

No public code exists (reference/methods.md §D). What is known of the paper: a WGAN-GP generator
``G`` maps a code ``c`` (``code_dim`` values) to an image and a critic ``D`` scores images; a
*Samples Encoder* ``E`` regresses the code from an image (``L_enc``) and is the representation
that gets evaluated; a *Difference Encoder* ``H`` maps a pair of images to a difference vector;
the losses are ``L_G``, ``L_H`` and ``L_enc``; data dSprites and 3DShapes; metrics MIG, DCI-D,
SAP. Everything below that the paper's summaries do not state is marked *(ours)*.

**Codes.** ``c`` ~ U(-1, 1)^n *(ours; InfoGAN's convention for continuous codes)* or N(0, I)
(``prior``). ``code_dim`` 10 is disentanglement_lib's latent count, so the metrics compare with
the VAE family. No noise vector besides the code *(ours)*.

**Pairs (paper).** For each code ``c`` one dimension ``i`` and another ``j != i`` are drawn
uniformly; ``c'`` is ``c`` with ``c_i`` redrawn from the prior and ``c''`` is ``c`` with ``c_j``
redrawn from the prior *(the redraw is ours; the paper perturbs one dimension)*.

**Losses.** With ``x = G(c)``, ``x' = G(c')``, ``x'' = G(c'')``:

* ``L_D = mean D(G(c)) - mean D(x_real) + gp_weight * mean (||grad D(x_hat)|| - 1)^2`` with
  ``x_hat`` a uniform random mix of a real and a generated image (WGAN-GP, Gulrajani et al.
  2017, Algorithm 1; ``gp_weight`` 10, ``n_critic`` 5).
* ``L_enc = mean (E(G(c)) - c)^2`` over the ``3n`` generated images (``c``, ``c'``, ``c''`` are
  all prior draws) and the code's dimensions *(MSE and the 3n images are ours)*.
* ``L_H = -mean ||v1/|v1| - v2/|v2| ||^2`` with ``v1 = H(x, x')`` and ``v2 = H(x, x'')`` (paper:
  ``-||v1 - v2||^2``). *Ours:* ``v`` is normalised to unit length. Without a bound, ``H`` (and
  ``G``) could lower ``-||v1 - v2||^2`` without limit by scaling ``v`` up, the loss diverges and
  swamps the other terms. With unit vectors ``L_H = 2 cos(v1, v2) - 2`` lies in ``[-4, 0]``,
  depends only on the *directions* of the differences, and its optimum for ``n`` dimensions is a
  set of directions spread as far apart as possible (a regular simplex when
  ``difference_dim >= n - 1``).
* ``L_G = -mean D(G(c)) + w_encoder * L_enc + w_difference * L_H``. *Ours:* both terms also
  train ``G``, with weights 1 (the paper's weights are unknown). Without ``L_H`` in ``L_G``, ``H``
  could only describe ``G``'s changes and never make different dimensions change different
  things, which is the paper's stated aim; without ``L_enc``, ``G`` could ignore some code
  dimensions (InfoGAN's reason for its code-recovery term). ``E`` minimises ``L_enc`` and ``H``
  minimises ``L_H``: all three cooperate; only the critic is adversarial.

A third-party summary of the paper says its contrastive loss also treats pairs changed by the
*same* factor (text cut off there); without the paper's equations no such term is implemented.

**Schedule (WGAN-GP Algorithm 1).** ``n_critic`` critic steps (each on its own real batch), then
one step of ``G``, ``E`` and ``H`` together on fresh codes. Adam lr 1e-4, betas (0, 0.9) for
``G`` and ``D`` (Algorithm 1's defaults; some of the authors' released scripts use beta1 0.5);
``E`` and ``H`` use Adam lr 1e-4, betas (0.9, 0.999) *(ours: disentanglement_lib's encoder
optimiser)*. One optimiser step per loader batch, see :class:`DiDModule`.

**Architectures** (images ``(B, C, 64, 64)`` in [0, 1], ``C`` 1 or 3; PyTorch's default
initialisation *(ours)*):

* ``G``: DCGAN (Radford et al. 2016) 64x64: Dense to ``8w x 4 x 4`` + BN + ReLU, transposed
  convs 4x4 stride 2 to ``4w, 2w, w`` channels (BN + ReLU) and to ``C`` channels, sigmoid
  (``w`` = ``generator_width``, 64 in DCGAN).
* ``D``: DCGAN critic: convs 4x4 stride 2 to ``w, 2w, 4w, 8w`` channels, leaky ReLU 0.2, layer
  norm (no batch norm: the gradient penalty is per sample; WGAN-GP §4 uses layer norm) on all
  but the first, Dense to one score (``w`` = ``critic_width``).
* ``E``: disentanglement_lib's ``conv_encoder`` trunk (convs 32 4x4, 32 4x4, 64 2x2, 64 2x2, all
  stride 2, ReLU; Dense 256 + ReLU) and Dense to ``code_dim``.
* ``H``: *ours:* the same trunk on the two images stacked on the channel axis (``2C``
  channels), so it sees where and how they differ, and Dense to ``difference_dim``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from unweave.errors import UnweaveError
from unweave.models.base import Latents, check_images, example_images, image_batch
from unweave.models.vae_family import conv_trunk
from unweave.nn.gaussian import Gaussian
from unweave.settings import check_number, config_from_dict, is_number

IMAGE_SIZE = 64
PRIORS = ("uniform", "gaussian")
CRITIC_NORMS = ("layer", "none")
LEAKY_SLOPE = 0.2  # DCGAN's discriminator


@dataclass
class DiDConfig:
    """Sizes, loss weights and the WGAN-GP schedule; sources in the module docstring."""

    channels: int = 1  # dSprites is grey; 3 for 3DShapes
    code_dim: int = 10  # disentanglement_lib's latent count (shared.gin num_latent)
    prior: str = "uniform"  # ours: U(-1, 1) per dimension; or "gaussian", N(0, 1)
    generator_width: int = 64  # DCGAN ngf
    critic_width: int = 64  # DCGAN ndf
    critic_norm: str = "layer"  # WGAN-GP §4: layer norm in the critic; or "none"
    difference_dim: int = 10  # ours: size of H's difference vectors (>= code_dim - 1)
    gp_weight: float = 10.0  # WGAN-GP lambda
    n_critic: int = 5  # WGAN-GP critic steps per generator step
    lr: float = 1e-4  # WGAN-GP Adam (G and D)
    betas: list[float] = field(default_factory=lambda: [0.0, 0.9])  # WGAN-GP Algorithm 1
    encoder_lr: float = 1e-4  # ours: Adam of E and H, as disentanglement_lib's encoder
    encoder_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    w_encoder: float = 1.0  # ours: weight of L_enc in L_G
    w_difference: float = 1.0  # ours: weight of L_H in L_G

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> DiDConfig:
        """Build from a dict, naming unknown keys and impossible values."""
        config = config_from_dict(cls, values, where)
        for key in ("generator_width", "critic_width", "n_critic"):
            check_number(f"{where}.{key}", getattr(config, key), whole=True, low=1)
        if config.channels not in (1, 3) or isinstance(config.channels, bool):
            raise UnweaveError(f"{where}.channels is {config.channels!r}; expected 1 or 3.")
        for key in ("code_dim", "difference_dim"):
            value = getattr(config, key)
            if not is_number(value, whole=True) or value < 2:
                raise UnweaveError(
                    f"{where}.{key} is {value!r}; expected an integer >= 2 (the difference loss "
                    "compares two dimensions and unit vectors need two components)."
                )
        if config.prior not in PRIORS:
            raise UnweaveError(
                f"{where}.prior is {config.prior!r}; expected one of: {', '.join(PRIORS)}."
            )
        if config.critic_norm not in CRITIC_NORMS:
            raise UnweaveError(
                f"{where}.critic_norm is {config.critic_norm!r}; expected one of: "
                f"{', '.join(CRITIC_NORMS)} (no batch norm: WGAN-GP penalises each sample's "
                "gradient)."
            )
        for key in ("gp_weight", "w_encoder", "w_difference"):
            check_number(f"{where}.{key}", getattr(config, key), low=0)
        for key in ("lr", "encoder_lr"):
            value = getattr(config, key)
            if not is_number(value) or value <= 0:
                raise UnweaveError(f"{where}.{key} is {value!r}; expected a number > 0.")
        for key in ("betas", "encoder_betas"):
            value = getattr(config, key)
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 2
                or not all(is_number(b) and 0 <= b < 1 for b in value)
            ):
                raise UnweaveError(f"{where}.{key} is {value!r}; expected two numbers in [0, 1).")
        return config


class Generator(nn.Module):
    """DCGAN generator: codes ``(B, code_dim)`` -> images ``(B, C, 64, 64)`` in [0, 1]."""

    def __init__(self, code_dim: int, channels: int, width: int) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Linear(code_dim, 8 * w * 4 * 4),
            nn.Unflatten(1, (8 * w, 4, 4)),
            nn.BatchNorm2d(8 * w),
            nn.ReLU(),
            *up_block(8 * w, 4 * w),  # 8 x 8
            *up_block(4 * w, 2 * w),  # 16 x 16
            *up_block(2 * w, w),  # 32 x 32
            nn.ConvTranspose2d(w, channels, 4, stride=2, padding=1),  # 64 x 64
            nn.Sigmoid(),
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.net(codes)


def up_block(in_channels: int, out_channels: int) -> list[nn.Module]:
    """Transposed conv 4x4 stride 2 (doubles H and W) + BN + ReLU."""
    deconv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
    return [deconv, nn.BatchNorm2d(out_channels), nn.ReLU()]


class Critic(nn.Module):
    """DCGAN critic without batch norm: images ``(B, C, 64, 64)`` -> scores ``(B,)``."""

    def __init__(self, channels: int, width: int, norm: str) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.Conv2d(channels, w, 4, stride=2, padding=1)]  # 32 x 32
        layers.append(nn.LeakyReLU(LEAKY_SLOPE))
        for i in range(3):  # 16, 8, 4
            out = w * 2 ** (i + 1)
            layers.append(nn.Conv2d(out // 2, out, 4, stride=2, padding=1))
            if norm == "layer":  # over (C, H, W) of each image, per-channel scale and shift
                layers.append(nn.GroupNorm(1, out))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(8 * w * 4 * 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class ConvEncoder(nn.Module):
    """disentanglement_lib's conv encoder trunk and a Dense head: images ``(B, C, 64, 64)`` ->
    ``(B, out_dim)``."""

    def __init__(self, channels: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(*conv_trunk(channels), nn.Linear(256, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float
) -> torch.Tensor:
    """WGAN-GP's penalty ``weight * mean (||grad_x D(x_hat)||_2 - 1)^2``: a scalar.

    ``x_hat = e * real + (1 - e) * fake`` with one ``e`` ~ U(0, 1) per sample; ``real`` and
    ``fake`` are ``(B, ...)`` and are not differentiated through; the penalty is differentiable
    in the critic's weights. The gradient in ``x_hat`` is taken even under ``torch.no_grad()``
    (the value is then a plain number).
    """
    mix = torch.rand(real.shape[0], *[1] * (real.ndim - 1), device=real.device, dtype=real.dtype)
    keep_graph = torch.is_grad_enabled()  # a penalty to differentiate, or a number to read
    with torch.enable_grad():
        x_hat = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=keep_graph)
    return weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def difference_objective(v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    """``L_H`` of difference vectors ``(B, K)``: ``-mean ||v1/|v1| - v2/|v2| ||^2`` in
    ``[-4, 0]`` (unit length: our bound, see the module docstring)."""
    return -(F.normalize(v1, dim=-1) - F.normalize(v2, dim=-1)).pow(2).sum(-1).mean()


def scaled_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged in value, with its gradient multiplied by ``scale`` on the way back."""
    return x.detach() + scale * (x - x.detach())


@dataclass
class GeneratedPairs:
    """``n`` codes and their two perturbations, stacked ``[c; c'; c'']``: ``codes``
    ``(3n, code_dim)`` and ``images`` ``(3n, C, 64, 64)``."""

    codes: torch.Tensor
    images: torch.Tensor

    def parts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The images of ``c``, ``c'`` and ``c''``: ``(n, C, 64, 64)`` each."""
        x, x1, x2 = self.images.chunk(3)
        return x, x1, x2


class DiD(nn.Module):
    """Generator, critic, Samples Encoder ``E`` and Difference Encoder ``H`` with their losses;
    trained by :class:`DiDModule`. Images are ``(B, C, 64, 64)`` in [0, 1]."""

    name: ClassVar[str] = "did"
    modality: ClassVar[str] = "images"
    config_class: ClassVar[type[DiDConfig]] = DiDConfig

    def __init__(self, config: DiDConfig) -> None:
        super().__init__()
        c = self.config = config
        self.generator = Generator(c.code_dim, c.channels, c.generator_width)
        self.critic = Critic(c.channels, c.critic_width, c.critic_norm)
        self.sample_encoder = ConvEncoder(c.channels, c.code_dim)
        self.difference_encoder = ConvEncoder(2 * c.channels, c.difference_dim)

    @staticmethod
    def training_module(config: dict[str, Any]) -> DiDModule:
        """The LightningModule that trains this model: WGAN-GP's alternating schedule."""
        return DiDModule(config)

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
        """A loader batch -> ``(x,)``, float images ``(B, C, 64, 64)`` in [0, 1]."""
        return image_batch(batch)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A random batch of uint8 images ``(batch_size, channels, 64, 64)``."""
        return example_images(batch_size, self.config.channels, IMAGE_SIZE)

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.config.channels, IMAGE_SIZE, "DiD")

    # ------------------------------------------------------------------ the model contract

    def encode(self, x: torch.Tensor) -> Latents:
        """Images ``(B, C, 64, 64)`` -> ``E(x)`` ``(B, code_dim)`` as a zero-variance Gaussian."""
        self.check_input(x)
        codes = self.sample_encoder(x)
        return Latents(static=Gaussian(codes, torch.full_like(codes, -math.inf)), dynamic=None)

    @torch.no_grad()
    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, 64, 64)`` -> the regressed codes ``E(x)`` ``(B, code_dim)``."""
        return self.encode(x).static.mean

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, code_dim)`` -> generated images ``(B, C, 64, 64)`` in [0, 1]."""
        return self.generator(codes)

    def sample_static(self, n: int) -> torch.Tensor:
        """``n`` codes from the prior: ``(n, code_dim)``."""
        ref = next(self.parameters())
        shape = (n, self.config.code_dim)
        if self.config.prior == "gaussian":
            return torch.randn(shape, device=ref.device, dtype=ref.dtype)
        return torch.rand(shape, device=ref.device, dtype=ref.dtype) * 2 - 1

    def difference(self, x: torch.Tensor, x_changed: torch.Tensor) -> torch.Tensor:
        """``H`` on pairs of images ``(B, C, 64, 64)`` each -> difference vectors
        ``(B, difference_dim)``."""
        return self.difference_encoder(torch.cat([x, x_changed], dim=1))

    def perturbed_codes(self, n: int) -> torch.Tensor:
        """``[c; c'; c'']`` ``(3n, code_dim)``: ``n`` prior codes, each with one dimension ``i``
        redrawn from the prior (``c'``) and, separately, another dimension ``j != i``
        (``c''``); ``i`` uniform, ``j`` uniform among the others."""
        dims = self.config.code_dim
        c, fresh = self.sample_static(n), self.sample_static(n)
        i = torch.randint(0, dims, (n,), device=c.device)
        j = (i + torch.randint(1, dims, (n,), device=c.device)) % dims
        rows = torch.arange(n, device=c.device)
        c1, c2 = c.clone(), c.clone()
        c1[rows, i] = fresh[rows, i]
        c2[rows, j] = fresh[rows, j]
        return torch.cat([c, c1, c2])

    def generate_pairs(self, n: int) -> GeneratedPairs:
        """``n`` codes, their perturbations and the generated images (differentiable in G)."""
        codes = self.perturbed_codes(n)
        return GeneratedPairs(codes, self.generator(codes))

    # ------------------------------------------------------------------ losses

    def critic_loss(self, x_real: torch.Tensor) -> dict[str, torch.Tensor]:
        """``L_D`` on real images ``(B, C, 64, 64)`` and ``B`` generated ones (no gradient to G):
        ``{"loss", "critic_loss", "wasserstein", "gradient_penalty"}``; ``wasserstein`` is the
        critic's estimate ``mean D(real) - mean D(fake)``."""
        self.check_input(x_real)
        with torch.no_grad():
            fake = self.generator(self.sample_static(x_real.shape[0]))
        wasserstein = self.critic(x_real).mean() - self.critic(fake).mean()
        penalty = gradient_penalty(self.critic, x_real, fake, self.config.gp_weight)
        loss = -wasserstein + penalty
        return {
            "loss": loss,
            "critic_loss": loss.detach(),
            "wasserstein": wasserstein.detach(),
            "gradient_penalty": penalty.detach(),
        }

    def encoder_term(self, pairs: GeneratedPairs, generator_weight: float = 1.0) -> torch.Tensor:
        """``L_enc``: mean squared error of ``E`` on the ``3n`` generated images; the gradient
        reaching ``G`` is multiplied by ``generator_weight``."""
        predicted = self.sample_encoder(scaled_gradient(pairs.images, generator_weight))
        return F.mse_loss(predicted, pairs.codes)

    def difference_term(self, pairs: GeneratedPairs, generator_weight: float = 1.0) -> torch.Tensor:
        """``L_H`` of ``v1 = H(x, x')`` and ``v2 = H(x, x'')``; the gradient reaching ``G`` is
        multiplied by ``generator_weight``."""
        x, x1, x2 = (scaled_gradient(part, generator_weight) for part in pairs.parts())
        return difference_objective(self.difference(x, x1), self.difference(x, x2))

    def encoder_loss(self, n: int) -> dict[str, torch.Tensor]:
        """``L_enc`` on ``n`` fresh codes and their perturbations: ``{"loss", "encoder_mse"}``."""
        loss = self.encoder_term(self.generate_pairs(n))
        return {"loss": loss, "encoder_mse": loss.detach()}

    def difference_loss(self, n: int) -> dict[str, torch.Tensor]:
        """``L_H`` on ``n`` fresh codes: ``{"loss", "difference"}``, ``loss`` in ``[-4, 0]``."""
        loss = self.difference_term(self.generate_pairs(n))
        return {"loss": loss, "difference": loss.detach()}

    def generator_loss(self, n: int) -> dict[str, torch.Tensor]:
        """One step's objective for ``G``, ``E`` and ``H`` on ``n`` fresh codes (3n images).

        ``"loss"`` = ``adversarial + L_enc + L_H`` with the encoder terms' gradient into ``G``
        scaled by ``w_encoder`` and ``w_difference``: its gradient is ``L_G``'s for ``G``,
        ``L_enc``'s for ``E`` and ``L_H``'s for ``H`` (the critic's weights also receive a
        gradient; the training module freezes them). Terms: ``"generator_loss"`` (the value of
        ``L_G``), ``"adversarial"`` (``-mean D(G(c))``), ``"encoder_mse"``, ``"difference"``.
        """
        c = self.config
        pairs = self.generate_pairs(n)
        adversarial = -self.critic(pairs.parts()[0]).mean()
        encoder = self.encoder_term(pairs, c.w_encoder)
        difference = self.difference_term(pairs, c.w_difference)
        generator = adversarial + c.w_encoder * encoder + c.w_difference * difference
        return {
            "loss": adversarial + encoder + difference,
            "generator_loss": generator.detach(),
            "adversarial": adversarial.detach(),
            "encoder_mse": encoder.detach(),
            "difference": difference.detach(),
        }

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both steps' objectives on one batch (the model contract's ``loss``, for checks and
        reading; training alternates them in :class:`DiDModule`): ``{"loss"`` = critic +
        generator objective, and the terms of :meth:`critic_loss` and :meth:`generator_loss`."""
        critic = self.critic_loss(x)
        generator = self.generator_loss(x.shape[0])
        terms = {k: v for k, v in {**critic, **generator}.items() if k != "loss"}
        return {"loss": critic["loss"] + generator["loss"], **terms}

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


class DiDModule(pl.LightningModule):
    """Trains :class:`DiD` with WGAN-GP's schedule (manual optimisation).

    ``config`` is a run configuration; ``config["model"]`` holds the :class:`DiDConfig`
    settings, which also carry the optimisers' settings. Two optimisers: the critic's Adam, and
    one Adam over ``G`` (WGAN-GP's settings), ``E`` and ``H`` (``encoder_lr``,
    ``encoder_betas``) as parameter groups, so that one step updates all three.

    Every loader batch makes exactly one optimiser step, so ``trainer.global_step`` counts loader
    batches: of each ``n_critic + 1`` consecutive steps the first ``n_critic`` train the critic
    on their real batch and the last trains ``G``, ``E`` and ``H`` on as many fresh codes as the
    batch has images (its real images are not used). The phase is read from ``global_step``,
    which a Lightning checkpoint restores, so a resumed run continues the cycle where it
    stopped. ``max_steps`` for ``k`` generator iterations (the unit in which GAN papers count
    training) is ``k * (n_critic + 1)``.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.automatic_optimization = False
        self.config = config
        self.model = DiD(DiDConfig.from_dict(config["model"]))

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """The critic's Adam; the Adam of ``G`` (group 0), ``E`` and ``H`` (group 1)."""
        c, m = self.model.config, self.model
        critic = torch.optim.Adam(m.critic.parameters(), lr=c.lr, betas=tuple(c.betas))
        encoders = [*m.sample_encoder.parameters(), *m.difference_encoder.parameters()]
        generator = torch.optim.Adam(
            [
                {"params": m.generator.parameters(), "lr": c.lr, "betas": tuple(c.betas)},
                {"params": encoders, "lr": c.encoder_lr, "betas": tuple(c.encoder_betas)},
            ]
        )
        return [critic, generator]

    def generator_step_due(self) -> bool:
        """Whether this step trains ``G``, ``E`` and ``H`` (the last of each cycle)."""
        cycle = self.model.config.n_critic + 1
        return self.global_step % cycle == cycle - 1

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        (x,) = self.model.batch_inputs(batch)
        generator_step = self.generator_step_due()
        optimizer = self.optimizers()[1 if generator_step else 0]
        self.toggle_optimizer(optimizer)  # the other parts get no gradient
        if generator_step:
            terms = self.model.generator_loss(x.shape[0])
        else:
            terms = self.model.critic_loss(x)
        optimizer.zero_grad()
        self.manual_backward(terms["loss"])
        optimizer.step()
        self.untoggle_optimizer(optimizer)
        logged = {f"train/{k}": v for k, v in terms.items() if k != "loss"}
        self.log_dict(logged, batch_size=x.shape[0])
