"""S3VAE: the authors' code's sizes and heads, the motion pseudo-labels on known motions, the
loss as its weighted terms, and a tiny run that learns toy sprites."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_DATA
from helpers import tiny_toy_run

from unweave.models import build_model
from unweave.nn.motion import motion_labels, patch_flow

TINY = dict(
    image_size=16, base_channels=8, g_dim=32, f_dim=16, z_dim=8, rnn_size=16, hidden_dim=16,
    dataset_size=100,
)  # fmt: skip


def test_the_paper_size_is_c_dsvae_s_network_and_the_motion_heads():
    """The OG backbone is C-DSVAE's (11,031,683) plus an area head (32-64-9: 2,697) and nine
    direction heads (32-64-8: 2,632 each); the heads are 2 z_dim wide, as the authors'."""
    model = build_model("s3vae", {})
    assert sum(p.numel() for p in model.parameters()) == 11_031_683 + 2_697 + 9 * 2_632
    assert model.area_head[-1].out_features == 9 and len(model.direction_heads) == 9
    assert isinstance(model.static_head.activation, torch.nn.LeakyReLU)
    assert build_model("s3vae", TINY).area_head[0].out_features == 16  # z_dim 8


def moving_square(dx: int, dy: int, size: int = 24, steps: int = 4) -> torch.Tensor:
    """A soft bright square in the top-left cell moving ``(dx, dy)`` pixels a frame (y down):
    ``(1, steps, 3, size, size)``."""
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    frames = []
    for t in range(steps):
        cx, cy = 3.5 + dx * t, 3.5 + dy * t
        blob = torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 4.0)
        frames.append(blob.expand(3, size, size))
    return torch.stack(frames)[None]


def test_the_flow_of_a_moving_square_points_its_way():
    flow = patch_flow(moving_square(1, 0))
    assert flow[0, :, 0, 0].min() > 0.5  # rightwards in the top-left cell
    assert flow[0, :, 0, 1].abs().max() < 0.2
    assert flow[0, :, 8].norm(dim=-1).max() < 1e-3  # the bottom-right cell is still
    moving, direction = motion_labels(moving_square(1, 0), threshold=0.5)
    assert moving.shape == (1, 4, 9) and not moving[0, 0].any()  # frame 0 never moves
    assert moving[0, 1:, 0].all() and not moving[0, 1:, 2:].any()  # it reaches cell 1 later
    assert (direction[0][moving[0]] == 0).all()  # sector 0: right
    _, up = motion_labels(moving_square(0, -1), threshold=0.5)
    assert up[0, 1:, 0].tolist() == [2, 2, 2]  # counter-clockwise: up is sector 2
    _, left = motion_labels(moving_square(-1, 0), threshold=0.5)
    assert left[0, 1:, 0].tolist() == [4, 4, 4]


def test_on_real_sprites_the_motion_labels_carry_the_action(one_thread):
    """On 1,024 real training clips at the cpu presets' 32x32, about 40% of the cells move
    (0.41 measured) and a linear probe on the labels of 512 clips reads the action of the
    other 512 at >= 0.95 (1.00 measured): the signal S3VAE's dynamic code learns to predict."""
    from sklearn.linear_model import LogisticRegression

    from unweave.data.sprites import load_sprites
    from unweave.nn.frames import prepare_frames

    sheets = SHARED_DATA / "sprites-lpc"
    if not sheets.is_dir():
        pytest.skip(f"real Sprites sheets not found at {sheets}")
    data = load_sprites(sheets, "train")
    frames = prepare_frames(torch.as_tensor(np.asarray(data.x[:1024])), 32)
    moving, direction = motion_labels(frames, threshold=0.5)
    where = moving[:, 1:].float()
    which_way = F.one_hot(direction[:, 1:].clamp(min=0), 8) * where[..., None]
    features = torch.cat([where.flatten(1), which_way.flatten(1)], 1).numpy()
    action = np.asarray(data.dynamic["action"][:1024])
    probe = LogisticRegression(max_iter=3000).fit(features[:512], action[:512])
    assert 0.3 <= float(where.mean()) <= 0.5
    assert probe.score(features[512:], action[512:]) >= 0.95


def test_the_loss_is_the_elbo_plus_the_weighted_terms():
    torch.manual_seed(0)
    model = build_model("s3vae", TINY).train()
    terms = model.loss(torch.rand(6, 8, 3, 16, 16))
    expected = (
        terms["sse_seq"] + terms["kl_static"] + terms["kl_dynamic"]
        + 0.01 * terms["mi_static_dynamic"] + 100 * terms["triplet"]
        + 0.1 * terms["motion_area"] + 0.1 * terms["motion_direction"]
    )  # fmt: skip
    assert float(terms["loss"].detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(terms["triplet"]) > 0  # at initialisation the margin is not yet met
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.direction_heads.parameters())


def test_the_negative_read_from_the_anchors_pass_equals_encoding_it_again():
    """The triplet's negative is the batch rolled; in training mode (batch-norm on batch
    statistics) encoding the rolled batch gives the anchors' codes rolled, values and
    gradients, so the loss reads them from the anchors' pass."""
    torch.manual_seed(0)
    model = build_model("s3vae", TINY).train()
    x = torch.rand(6, 8, 3, 16, 16)
    order = (torch.arange(6) + 2) % 6
    anchors = model.encode(x).static.mean
    again = model.encode(x[order]).static.mean
    torch.testing.assert_close(anchors[order], again, rtol=1e-5, atol=1e-6)
    weights = torch.randn_like(again)  # a weighted sum: a plain one ignores the order
    first_conv = next(p for p in model.parameters() if p.dim() == 4)
    (grad_read,) = torch.autograd.grad((anchors[order] * weights).sum(), first_conv)
    (grad_again,) = torch.autograd.grad((again * weights).sum(), first_conv)
    scale = float(grad_again.abs().max())  # float32 sums in another order: ~1e-5 apart
    torch.testing.assert_close(grad_read, grad_again, rtol=0, atol=1e-4 * scale)


def test_a_tiny_run_learns_toy_sprites(tmp_path, one_thread):
    """Stated target: 12 epochs on 600 toy sprites (16x16, 1 thread, ~40 s): the static code
    reads the top's colour at >= 0.45 (chance 1/6; 0.53 by benchmarks/toy_sequential.py)
    and the dynamic code the action at >= 0.25 (chance 1/9; 0.38 there)."""
    tiny = {k: v for k, v in TINY.items() if k != "dataset_size"}
    _, model, report = tiny_toy_run("s3vae", tiny, tmp_path / "run")
    assert model.config.dataset_size == 600  # set from the training data
    assert report["static->top"] >= 0.45, report
    assert report["dynamic->action"] >= 0.25, report
