"""Diagonal Gaussians: the reparameterisation trick and closed-form KL divergences."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unweave.errors import UnweaveError


@dataclass
class Gaussian:
    """A diagonal Gaussian with ``mean`` and ``logvar`` of the same shape ``(..., D)``."""

    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self) -> torch.Tensor:
        """A reparameterised sample, differentiable in mean and logvar; shape ``(..., D)``."""
        return self.mean + torch.randn_like(self.mean) * torch.exp(0.5 * self.logvar)

    def kl(self, prior: Gaussian | None = None, dim: int | None = None) -> torch.Tensor:
        """``KL(self || prior)`` summed over every element, or over dimension ``dim`` only
        (``prior=None`` means N(0, I); a ``prior`` of another shape is broadcast)."""
        if prior is None:
            return -0.5 * torch.sum(1 + self.logvar - self.mean.pow(2) - self.logvar.exp(), dim)
        var_ratio = (self.logvar - prior.logvar).exp()
        mean_term = (self.mean - prior.mean).pow(2) / prior.logvar.exp()
        return 0.5 * torch.sum(var_ratio + mean_term - 1 - (self.logvar - prior.logvar), dim)

    def pairwise_kl(self, others: Gaussian) -> torch.Tensor:
        """``KL(self_i || others_j)`` for each of ``self``'s ``(B, D)`` Gaussians and each of
        ``others``' ``(K, D)``: ``(B, K)``, in ``self``'s dtype.

        Equal to ``kl`` on the broadcast ``(B, K, D)`` pair, but by three matrix products
        (the square of the mean difference expanded), so memory is ``O((B + K) D)``; the
        products run in float64, as precisions ``exp(-logvar)`` can reach 1e8."""
        mean, logvar = self.mean.double(), self.logvar.double()
        other_mean, other_logvar = others.mean.double(), others.logvar.double()
        precision = (-other_logvar).exp()  # (K, D)
        cross = (logvar.exp() + mean.pow(2)) @ precision.T - 2 * mean @ (other_mean * precision).T
        own = (other_mean.pow(2) * precision + other_logvar).sum(-1)  # (K,)
        rows = (1 + logvar).sum(-1, keepdim=True)  # (B, 1)
        return (0.5 * (cross + own - rows)).to(self.mean.dtype)


#: Activations a :class:`GaussianHead` may put on its mean and log-variance.
HEAD_ACTIVATIONS = {
    "linear": torch.nn.Identity,
    # The reference DSVAE and audio DBSE static heads: ``LinearUnit(in, out, False)``.
    "leaky_relu": lambda: torch.nn.LeakyReLU(0.2),
}


class GaussianHead(torch.nn.Module):
    """Two linear maps from features ``(..., in_dim)`` to a Gaussian over ``(..., out_dim)``,
    each followed by ``activation`` (a key of :data:`HEAD_ACTIVATIONS`; no parameters)."""

    def __init__(self, in_dim: int, out_dim: int, activation: str = "linear") -> None:
        super().__init__()
        if activation not in HEAD_ACTIVATIONS:
            raise UnweaveError(
                f"The head activation is '{activation}'; expected one of "
                f"{', '.join(HEAD_ACTIVATIONS)}."
            )
        self.mean = torch.nn.Linear(in_dim, out_dim)
        self.logvar = torch.nn.Linear(in_dim, out_dim)
        self.activation = HEAD_ACTIVATIONS[activation]()

    def forward(self, features: torch.Tensor) -> Gaussian:
        return Gaussian(
            self.activation(self.mean(features)), self.activation(self.logvar(features))
        )
