"""Sequential VAEs for multivariate time series: DBSE (static + dynamic) and a plain baseline.

DBSE for time series (Berman et al., ICML 2024; reference code azencot-group/DBSE
``time_series/model/dbse.py``; facts in reference/dbse.md §4):

* a per-step MLP encoder ``[32, 64, 32]`` (ReLU after each layer);
* the series is cut into windows of ``window`` steps and cyclically shifted so that window
  ``static_window`` (the reference's ``frame_ind``) comes first;
* static code ``f``: a GRU over the first (shifted) window's features, Linear + Tanh, then
  mean / log-variance heads;
* dynamic codes ``z_w``, one per window: an LSTM over each window's steps, last output, then
  mean / log-variance heads; the first window is replaced by one N(0, I) vector repeated over
  its steps; steps with >= 70% of their features missing are zeroed (reference rule);
* ``dynamic_input="subtracted"`` (the paper): the LSTM reads ``h_t - h_static`` (each window
  minus the static window, step by step). ``"raw"`` (the reference code, which computes the
  difference but feeds ``h_t``) keeps the reference behaviour;
* a learned two-layer LSTM prior over ``z`` (hidden ``rnn_size``), teacher-forced;
* decoder: ``[z_w, f]`` -> Linear + Tanh -> the initial hidden and cell state of an LSTM run
  over N(0, I) inputs for the window's steps, then an MLP and a Gaussian with mean
  ``Linear`` and scale ``0.5 * sigmoid(Linear)``;
* loss per series, averaged over the batch repeated ``mc_samples`` times:
  ``w_rec * NLL(series) + w_rec_static * NLL(step 0 from [z_0, f]) + w_kl_static * KL(f)
  + w_kl_dynamic * KL(z)``. NLLs are means over all ``T x F`` cells with unobserved cells
  contributing 0 (as the reference); KLs are sums over dimensions.

Differences from the reference, on purpose: the NLL of step 0 is masked like the series NLL
(the reference leaves it unmasked, which fits the zeros standing in for missing values).

``SeriesVAE`` is the non-disentangled baseline of the same size: one code of
``f_dim + z_dim`` per window and no static code, the same encoder, prior and decoder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from unweave.errors import UnweaveError
from unweave.models.base import Latents, swap_codes
from unweave.nn.gaussian import Gaussian, GaussianHead
from unweave.nn.priors import LSTMPrior
from unweave.settings import config_from_dict

DYNAMIC_INPUTS = ("subtracted", "raw")


@dataclass
class SeriesVAEConfig:
    """Sizes, windowing and loss weights. Defaults: the reference ETTh1 experiment."""

    n_features: int = 6
    window: int = 24  # steps per window (reference ``window_size``)
    n_windows: int = 28  # windows per series (672 hourly steps)
    encoder_sizes: list[int] = field(default_factory=lambda: [32, 64, 32])
    decoder_sizes: list[int] = field(default_factory=lambda: [32, 64, 32])
    f_dim: int = 8
    z_dim: int = 8
    rnn_size: int = 64  # hidden size of the LSTM prior
    static_window: int = 14  # reference ``frame_ind``: the window the static code reads
    dynamic_input: str = "subtracted"  # "subtracted" (paper) or "raw" (reference code)
    mc_samples: int = 15  # the reference's M: each batch is repeated M times in the loss
    w_rec: float = 85.0
    w_rec_static: float = 11.0
    w_kl_static: float = 0.01
    w_kl_dynamic: float = 0.001

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> SeriesVAEConfig:
        """Build from a dict, naming unknown keys and impossible values."""
        config = config_from_dict(cls, values, where)
        if config.dynamic_input not in DYNAMIC_INPUTS:
            raise UnweaveError(
                f"{where}.dynamic_input is '{config.dynamic_input}'; expected one of: "
                f"{', '.join(DYNAMIC_INPUTS)}."
            )
        if not 0 <= config.static_window < config.n_windows:
            raise UnweaveError(
                f"{where}.static_window is {config.static_window}; expected 0 to "
                f"{config.n_windows - 1} (n_windows is {config.n_windows})."
            )
        return config

    @property
    def seq_len(self) -> int:
        return self.window * self.n_windows


def mlp(sizes: list[int], last_activation: bool) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ...`` with ReLU between (and after, if asked)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    return nn.Sequential(*(layers if last_activation else layers[:-1]))


class WindowDecoder(nn.Module):
    """Codes ``(B, W, D)`` -> a Gaussian over ``(B, W * steps, F)``, each window on its own."""

    def __init__(self, code_dim: int, n_features: int, sizes: list[int]) -> None:
        super().__init__()
        self.hidden = sizes[0]
        self.embed = nn.Sequential(nn.Linear(code_dim, sizes[0]), nn.Tanh())
        self.rnn = nn.LSTM(sizes[0], sizes[0], batch_first=True)
        self.mlp = mlp(sizes, last_activation=False)
        self.mean = nn.Linear(sizes[-1], n_features)
        self.scale = nn.Linear(sizes[-1], n_features)

    def forward(self, codes: torch.Tensor, steps: int) -> torch.distributions.Normal:
        b, w, _ = codes.shape
        state = self.embed(codes).reshape(1, b * w, self.hidden).contiguous()
        noise = torch.randn(b * w, steps, self.hidden, device=codes.device, dtype=codes.dtype)
        out, _ = self.rnn(noise, (state, state))  # (B*W, steps, hidden)
        out = self.mlp(out.reshape(b, w * steps, self.hidden))
        # No argument validation: a NaN mean must reach the loss, where the FiniteGuard
        # stops training with one sentence, not raise a ValueError inside the forward.
        scale = 0.5 * torch.sigmoid(self.scale(out))
        return torch.distributions.Normal(self.mean(out), scale, validate_args=False)


class SeriesModel(nn.Module):
    """Shared parts: encoder MLP, windowing, LSTM prior, window decoder and the masked NLL.

    Inputs everywhere: ``x`` ``(B, T, F)`` float and ``mask`` ``(B, T, F)`` bool (True =
    observed), ``T = window * n_windows``.
    """

    name: ClassVar[str]
    modality: ClassVar[str] = "series"
    config_class: ClassVar[type[SeriesVAEConfig]] = SeriesVAEConfig

    def __init__(self, config: SeriesVAEConfig, code_dim: int, prior_dim: int) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = mlp([c.n_features, *c.encoder_sizes], last_activation=True)
        self.decoder = WindowDecoder(code_dim, c.n_features, c.decoder_sizes)
        self.dynamic_prior = LSTMPrior(prior_dim, c.rnn_size)

    # ------------------------------------------------------------------ inputs

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A loader batch -> ``(x, mask)`` as the model takes them."""
        return batch["x"].float(), batch["mask"].bool()

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A random, fully observed batch: ``x`` and ``mask`` ``(batch_size, T, F)``."""
        x = torch.randn(batch_size, self.config.seq_len, self.config.n_features)
        return {"x": x, "mask": torch.ones_like(x, dtype=torch.bool)}

    def check_input(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        c = self.config
        expected = (c.seq_len, c.n_features)
        if x.ndim != 3 or tuple(x.shape[1:]) != expected or mask.shape != x.shape:
            raise UnweaveError(
                f"{self.name} for series takes x and mask of shape (B, {c.seq_len}, "
                f"{c.n_features}) ({c.n_windows} windows of {c.window} steps); got x "
                f"{tuple(x.shape)} and mask {tuple(mask.shape)}."
            )

    def shift(self, x: torch.Tensor, back: bool = False) -> torch.Tensor:
        """Cyclic shift along time ``(B, T, ...)`` so the static window comes first."""
        steps = self.config.static_window * self.config.window
        return torch.roll(x, steps if back else -steps, dims=1)

    def windows(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` -> ``(B, W, window, D)``."""
        return h.view(h.shape[0], self.config.n_windows, self.config.window, h.shape[-1])

    # ------------------------------------------------------------------ the model contract

    def encode_shifted(self, x: torch.Tensor, mask: torch.Tensor) -> Latents:
        """Codes of the already shifted series; dynamic codes in shifted window order."""
        raise NotImplementedError

    def decoder_codes(self, static: torch.Tensor | None, dynamic: torch.Tensor) -> torch.Tensor:
        """What the decoder reads per window, ``(B, W, code_dim)``."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> Latents:
        """``x`` ``(B, T, F)`` -> static ``(B, f_dim)`` (or None), dynamic ``(B, W, D)``.

        Dynamic codes are in natural window order (window w covers steps ``w*window ..``).
        """
        mask = torch.ones_like(x, dtype=torch.bool) if mask is None else mask
        self.check_input(x, mask)
        latents = self.encode_shifted(self.shift(x), self.shift(mask))
        latents.dynamic = self.natural_order(latents.dynamic)
        return latents

    def natural_order(self, dynamic: Gaussian) -> Gaussian:
        """Per-window posteriors ``(B, W, D)`` in shifted order -> natural window order."""
        k = self.config.static_window
        return Gaussian(dynamic.mean.roll(k, 1), dynamic.logvar.roll(k, 1))

    def decode(self, static: torch.Tensor | None, dynamic: torch.Tensor) -> torch.Tensor:
        """Codes -> the decoder's mean series ``(B, W * window, F)`` (fresh input noise)."""
        return self.decoder(self.decoder_codes(static, dynamic), self.config.window).mean

    def sample_static(self, n: int) -> torch.Tensor:
        """``n`` static codes from N(0, I): ``(n, f_dim)``."""
        ref = next(self.parameters())
        return torch.randn(n, self.config.f_dim, device=ref.device, dtype=ref.dtype)

    def sample_dynamic(self, n: int, steps: int | None = None) -> torch.Tensor:
        """Per-window prior means ``(n, W, D)``, generated in shifted order, returned natural."""
        steps = steps or self.config.n_windows
        prior, _ = self.dynamic_prior.generate(n, steps, next(self.parameters()))
        return prior.mean.roll(self.config.static_window, 1)

    def masked_nll(
        self, px: torch.distributions.Normal, x: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Per-series NLL ``(B,)``: mean over all cells, unobserved cells counting 0."""
        nll = -px.log_prob(x) * mask
        return nll.flatten(1).mean(1)

    def repeat(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """Each tensor repeated ``mc_samples`` times along the batch (the reference's M)."""
        m = self.config.mc_samples
        return [t.repeat(m, *([1] * (t.ndim - 1))) for t in tensors]

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


class SeriesDBSE(SeriesModel):
    """DBSE for time series: static ``f`` from one window, dynamic ``z_w`` per window."""

    name = "dbse"

    def __init__(self, config: SeriesVAEConfig) -> None:
        c = config
        super().__init__(config, code_dim=c.f_dim + c.z_dim, prior_dim=c.z_dim)
        width = c.encoder_sizes[-1]
        self.static_gru = nn.GRU(width, width, batch_first=True)
        self.static_features = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.static_head = GaussianHead(width, c.f_dim)
        self.dynamic_lstm = nn.LSTM(width, width, batch_first=True)
        self.dynamic_head = GaussianHead(width, c.z_dim)

    def encode_shifted(self, x: torch.Tensor, mask: torch.Tensor) -> Latents:
        c = self.config
        h = self.windows(self.encoder(x))  # (B, W, window, D)
        b, w, s, d = h.shape
        _, last = self.static_gru(h[:, 0])
        static = self.static_head(self.static_features(last[0]))
        dynamic_in = h - h[:, :1] if c.dynamic_input == "subtracted" else h
        noise = torch.randn(b, 1, 1, d, device=x.device, dtype=x.dtype).expand(b, 1, s, d)
        dynamic_in = torch.cat([noise, dynamic_in[:, 1:]], dim=1)
        # Steps with >= 70% of their features missing are zeroed (reference rule).
        usable = (~mask).sum(-1) < int(0.7 * x.shape[-1])
        dynamic_in = dynamic_in * self.windows(usable[..., None].to(x.dtype))
        out, _ = self.dynamic_lstm(dynamic_in.reshape(b * w, s, d))
        dynamic = self.dynamic_head(out[:, -1].reshape(b, w, d))
        return Latents(static=static, dynamic=dynamic)

    def decoder_codes(self, static: torch.Tensor | None, dynamic: torch.Tensor) -> torch.Tensor:
        if static is None:
            raise UnweaveError("DBSE decodes from a static and a dynamic code; static is None.")
        expanded = static[:, None].expand(-1, dynamic.shape[1], -1)
        return torch.cat([dynamic, expanded], dim=-1)

    swap = swap_codes  # the static code of one series with the dynamics of another

    def loss(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss", "nll_seq", "nll_static", "kl_static", "kl_dynamic", "mse"}``."""
        terms, _, _, _, total = self.elbo(x, mask)
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def elbo(
        self, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], Latents, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The weighted terms of the batch repeated ``mc_samples`` times: ``(terms, latents,
        f, z, total)``; latents and samples ``(M B, ...)`` in shifted window order, the first
        ``B`` rows one sample of each series."""
        c = self.config
        self.check_input(x, mask)
        xs, ms = self.repeat(self.shift(x), self.shift(mask))
        batch = xs.shape[0]
        latents = self.encode_shifted(xs, ms)
        f, z = latents.static.sample(), latents.dynamic.sample()
        px = self.decoder(self.decoder_codes(f, z), c.window)
        px_step0 = self.decoder(torch.cat([z[:, :1], f[:, None]], dim=-1), 1)
        terms = {
            "nll_seq": self.masked_nll(px, xs, ms).mean(),
            "nll_static": self.masked_nll(px_step0, xs[:, :1], ms[:, :1]).mean(),
            "kl_static": latents.static.kl() / batch,
            "kl_dynamic": latents.dynamic.kl(self.dynamic_prior.teacher_forced(z)) / batch,
        }
        total = (
            c.w_rec * terms["nll_seq"]
            + c.w_rec_static * terms["nll_static"]
            + c.w_kl_static * terms["kl_static"]
            + c.w_kl_dynamic * terms["kl_dynamic"]
        )
        observed = ms.sum().clamp(min=1)
        terms["mse"] = ((px.mean.detach() - xs).pow(2) * ms).sum() / observed
        return terms, latents, f, z, total


class SeriesVAE(SeriesModel):
    """The non-disentangled baseline: one code of ``f_dim + z_dim`` per window, no static code.

    Same encoder MLP, same per-window LSTM, same prior and decoder as :class:`SeriesDBSE`;
    the loss drops the static terms: ``w_rec * NLL(series) + w_kl_dynamic * KL(z)``.
    """

    name = "seqvae"

    def __init__(self, config: SeriesVAEConfig) -> None:
        c = config
        code = c.f_dim + c.z_dim
        super().__init__(config, code_dim=code, prior_dim=code)
        width = c.encoder_sizes[-1]
        self.dynamic_lstm = nn.LSTM(width, width, batch_first=True)
        self.dynamic_head = GaussianHead(width, code)

    def encode_shifted(self, x: torch.Tensor, mask: torch.Tensor) -> Latents:
        h = self.windows(self.encoder(x))
        b, w, s, d = h.shape
        usable = (~mask).sum(-1) < int(0.7 * x.shape[-1])
        h = h * self.windows(usable[..., None].to(x.dtype))
        out, _ = self.dynamic_lstm(h.reshape(b * w, s, d))
        return Latents(static=None, dynamic=self.dynamic_head(out[:, -1].reshape(b, w, d)))

    def decoder_codes(self, static: torch.Tensor | None, dynamic: torch.Tensor) -> torch.Tensor:
        return dynamic

    def sample_static(self, n: int) -> torch.Tensor:
        raise UnweaveError("The seqvae baseline has no static code to sample.")

    def loss(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss", "nll_seq", "kl_dynamic", "mse"}``."""
        c = self.config
        self.check_input(x, mask)
        xs, ms = self.repeat(self.shift(x), self.shift(mask))
        latents = self.encode_shifted(xs, ms)
        z = latents.dynamic.sample()
        px = self.decoder(z, c.window)
        terms = {
            "nll_seq": self.masked_nll(px, xs, ms).mean(),
            "kl_dynamic": latents.dynamic.kl(self.dynamic_prior.teacher_forced(z)) / xs.shape[0],
        }
        total = c.w_rec * terms["nll_seq"] + c.w_kl_dynamic * terms["kl_dynamic"]
        terms["mse"] = ((px.mean.detach() - xs).pow(2) * ms).sum() / ms.sum().clamp(min=1)
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}
