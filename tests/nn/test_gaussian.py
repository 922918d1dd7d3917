import math

import pytest
import torch

from unweave.nn.gaussian import Gaussian


def test_kl_of_standard_normal_to_itself_is_zero():
    g = Gaussian(torch.zeros(4, 3), torch.zeros(4, 3))
    assert float(g.kl()) == pytest.approx(0.0, abs=1e-7)


def test_kl_to_standard_normal_known_answer():
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 (s^2 + mu^2 - 1 - ln s^2), summed over elements
    mean, var = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5, 2.0]])
    expected = sum(
        0.5 * (v + m * m - 1 - math.log(v)) for m, v in zip([1.0, -2.0], [0.5, 2.0], strict=True)
    )
    assert float(Gaussian(mean, var.log()).kl()) == pytest.approx(expected, rel=1e-6)


def test_kl_against_explicit_prior_matches_monte_carlo():
    torch.manual_seed(0)
    q = Gaussian(torch.tensor([0.3, -0.5]), torch.tensor([-0.2, 0.4]))
    p = Gaussian(torch.tensor([0.1, 0.2]), torch.tensor([0.3, -0.1]))
    samples = torch.stack([q.sample() for _ in range(200_000)])
    q_dist = torch.distributions.Normal(q.mean, (0.5 * q.logvar).exp())
    p_dist = torch.distributions.Normal(p.mean, (0.5 * p.logvar).exp())
    estimate = (q_dist.log_prob(samples) - p_dist.log_prob(samples)).sum(-1).mean()
    assert float(q.kl(p)) == pytest.approx(float(estimate), abs=0.01)


def test_kl_with_standard_prior_equals_default():
    q = Gaussian(torch.randn(5, 4), torch.randn(5, 4))
    std = Gaussian(torch.zeros(5, 4), torch.zeros(5, 4))
    assert float(q.kl(std)) == pytest.approx(float(q.kl()), rel=1e-5)


@pytest.mark.parametrize("logvar_scale", [1.0, 8.0])
def test_pairwise_kl_equals_the_broadcast_kl(logvar_scale: float):
    """Every (posterior, bank) pair, at ordinary and at very sharp or wide variances
    (log-variances up to about +-20, precisions up to ~1e8)."""
    torch.manual_seed(0)
    p = Gaussian(torch.randn(7, 16), logvar_scale * torch.randn(7, 16).clamp(-2.5, 2.5))
    q = Gaussian(torch.randn(11, 16), logvar_scale * torch.randn(11, 16).clamp(-2.5, 2.5))
    broadcast = Gaussian(p.mean.double()[:, None], p.logvar.double()[:, None]).kl(
        Gaussian(q.mean.double(), q.logvar.double()), dim=-1
    )
    pairwise = p.pairwise_kl(q)
    assert pairwise.shape == (7, 11) and pairwise.dtype == torch.float32
    torch.testing.assert_close(pairwise.double(), broadcast, rtol=1e-5, atol=1e-4)
