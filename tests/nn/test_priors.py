import torch
from helpers import weighted_grads

from unweave.nn.priors import LSTMPrior


def test_teacher_forced_prior_at_t_depends_only_on_earlier_codes():
    torch.manual_seed(0)
    prior = LSTMPrior(z_dim=4, hidden_dim=8)
    z = torch.randn(2, 6, 4)
    changed = z.clone()
    changed[:, 3] += 1.0
    a, b = prior.teacher_forced(z), prior.teacher_forced(changed)
    assert torch.equal(a.mean[:, :4], b.mean[:, :4])  # steps 0..3 see z_0..z_2 only
    assert not torch.allclose(a.mean[:, 4], b.mean[:, 4])


def test_generation_feeds_its_samples_back():
    torch.manual_seed(0)
    prior = LSTMPrior(z_dim=4, hidden_dim=8)
    gaussians, samples = prior.generate(3, 5, torch.zeros(1))
    assert gaussians.mean.shape == samples.shape == (3, 5, 4)
    # Re-running teacher-forced on the generated samples gives the same per-step Gaussians.
    assert torch.allclose(prior.teacher_forced(samples).mean, gaussians.mean, atol=1e-6)


def test_fused_lstm_prior_equals_step_loop():
    torch.manual_seed(0)
    prior = LSTMPrior(z_dim=6, hidden_dim=10)
    z = torch.randn(4, 9, 6)
    fused = prior.teacher_forced(z)
    fused_grads = weighted_grads(prior, fused.mean + fused.logvar.exp())
    prior.fused = False
    loop = prior.teacher_forced(z)
    loop_grads = weighted_grads(prior, loop.mean + loop.logvar.exp())
    assert fused.mean.shape == (4, 9, 6)
    torch.testing.assert_close(fused.mean, loop.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused.logvar, loop.logvar, rtol=1e-5, atol=1e-6)
    for a, b in zip(fused_grads, loop_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
