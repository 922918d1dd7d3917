"""Your own method in unweave: a small sequential VAE that follows the model contract.

A GRU reads the series; the static code f comes from its states averaged over time, the
dynamic code z_w of window w from its state at the window's end; a linear decoder maps
[f, z_w] to the window's steps. Registered in one line, it trains, evaluates, swaps and
reports through every command and the Python API:

    python examples/sequential_vae.py        # fits it on the synthetic series, prints probes
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn

import unweave
from unweave.models import Latents, register_method
from unweave.nn.gaussian import GaussianHead
from unweave.settings import config_from_dict


@dataclass
class TinyConfig:
    n_features: int = 4  # the synthetic series' shape: 10 windows of 24 steps of 4 features
    window: int = 24
    n_windows: int = 10
    f_dim: int = 8
    z_dim: int = 8
    hidden: int = 64
    beta: float = 1.0  # the KL terms' weight

    @classmethod
    def from_dict(cls, values: dict, where: str = "model") -> "TinyConfig":
        return config_from_dict(cls, values, where)  # unknown keys and wrong types: one sentence


CPU = {"optim": {"lr": 1e-3}, "train": {"batch_size": 64, "max_epochs": 10}}


@register_method("tiny-svae", "series", presets={"cpu": CPU})
class TinySequentialVAE(nn.Module):
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        c = self.config = config
        self.rnn = nn.GRU(c.n_features, c.hidden, batch_first=True)
        self.static_head = GaussianHead(c.hidden, c.f_dim)
        self.dynamic_head = GaussianHead(c.hidden, c.z_dim)
        self.decoder = nn.Linear(c.f_dim + c.z_dim, c.window * c.n_features)

    def batch_inputs(self, batch: dict) -> tuple:  # what loss() takes from a training batch
        return batch["x"], batch["mask"]

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> Latents:
        states, _ = self.rnn(x)  # (B, T, hidden)
        ends = states.unflatten(1, (self.config.n_windows, self.config.window))[:, :, -1]
        return Latents(static=self.static_head(states.mean(1)), dynamic=self.dynamic_head(ends))

    def decode(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        """``(B, f_dim)`` and ``(B, W, z_dim)`` -> series ``(B, W * window, n_features)``."""
        codes = torch.cat([static[:, None].expand(-1, dynamic.shape[1], -1), dynamic], -1)
        return self.decoder(codes).reshape(len(codes), -1, self.config.n_features)

    def loss(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        latents = self.encode(x, mask)
        recon = self.decode(latents.static.sample(), latents.dynamic.sample())
        rec = ((recon - x) ** 2 * mask).sum() / len(x)
        kl = (latents.static.kl() + latents.dynamic.kl()) / len(x)
        return {"loss": rec + self.config.beta * kl, "rec": rec.detach(), "kl": kl.detach()}

    def sample_static(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.f_dim)

    def sample_dynamic(self, n: int, steps: int | None = None) -> torch.Tensor:
        return torch.randn(n, steps or self.config.n_windows, self.config.z_dim)

    def export_config(self) -> dict:
        return asdict(self.config)


if __name__ == "__main__":
    run = unweave.fit("tiny-svae", "synthetic-series", run_dir="runs/tiny-svae")
    print(run.evaluate(metrics="probes"))
