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
