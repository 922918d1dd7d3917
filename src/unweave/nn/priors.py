"""The learned autoregressive prior over dynamic codes used by DBSE, DSVAE and their kin."""

from __future__ import annotations

import torch
from torch import nn

from unweave.nn.gaussian import Gaussian, GaussianHead


class LSTMPrior(nn.Module):
    """p(z_t | z_<t): two stacked LSTM cells (hidden ``hidden_dim``) and a Gaussian head.

    The first step sees a zero input. In training the previous *posterior* sample is fed
    (teacher forcing); at generation the previous prior sample is fed back.

    Teacher forcing runs the two cells as one fused two-layer LSTM call over the whole
    sequence (the same arithmetic as the step loop, without its per-step Python and
    autograd nodes); ``fused = False`` keeps the step loop of the reference code.
    """

    fused: bool = True

    def __init__(self, z_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.hidden_dim = hidden_dim
        self.cell1 = nn.LSTMCell(z_dim, hidden_dim)
        self.cell2 = nn.LSTMCell(hidden_dim, hidden_dim)
        self.head = GaussianHead(hidden_dim, z_dim)

    def _run(self, steps: int, batch: int, ref: torch.Tensor, next_input) -> Gaussian:
        """Unroll ``steps`` steps; ``next_input(t, gaussian_t)`` gives the input of step t + 1."""
        zeros = ref.new_zeros(batch, self.hidden_dim)
        state1, state2 = (zeros, zeros), (zeros, zeros)
        z_in = ref.new_zeros(batch, self.z_dim)
        means, logvars = [], []
        for t in range(steps):
            state1 = self.cell1(z_in, state1)
            state2 = self.cell2(state1[0], state2)
            step = self.head(state2[0])
            means.append(step.mean)
            logvars.append(step.logvar)
            z_in = next_input(t, step)
        return Gaussian(torch.stack(means, 1), torch.stack(logvars, 1))

    def teacher_forced(self, z_post: torch.Tensor) -> Gaussian:
        """Prior for each step given the posterior samples ``z_post`` ``(B, T, Z)``."""
        batch, steps = z_post.shape[:2]
        if not self.fused:
            return self._run(steps, batch, z_post, lambda t, _: z_post[:, t])
        inputs = torch.cat([z_post.new_zeros(batch, 1, self.z_dim), z_post[:, :-1]], 1)
        cells = (self.cell1, self.cell2)
        weights = [w for c in cells for w in (c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)]
        zeros = z_post.new_zeros(2, batch, self.hidden_dim)
        # torch.lstm(input, (h0, c0), weights, has_biases, layers, dropout, train,
        # bidirectional, batch_first): nn.LSTM's kernel with the LSTMCells' weights.
        hidden, _, _ = torch.lstm(inputs, (zeros, zeros), weights, True, 2, 0.0, False, False, True)
        return self.head(hidden)

    def generate(self, n: int, steps: int, ref: torch.Tensor) -> tuple[Gaussian, torch.Tensor]:
        """Autoregressive generation: per-step prior Gaussians and samples ``(n, steps, Z)``.

        Each step's sample is fed back as the next input. ``ref`` is any tensor on the wanted
        device and dtype.
        """
        samples: list[torch.Tensor] = []

        def feed_sample(_: int, step: Gaussian) -> torch.Tensor:
            samples.append(step.sample())
            return samples[-1]

        prior = self._run(steps, n, ref, feed_sample)
        return prior, torch.stack(samples, 1)
