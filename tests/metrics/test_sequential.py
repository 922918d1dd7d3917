"""The judge protocol: its bookkeeping on an oracle model and judge, and IS / entropy answers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from unweave.data.base import SequenceData
from unweave.errors import UnweaveError
from unweave.metrics.sequential import balanced_subset, inception_scores, sequential_protocol
from unweave.models.base import Latents
from unweave.nn.gaussian import Gaussian

STEP = 20  # label k is stored as the grey level 20 k


class OracleModel(nn.Module):
    """Static code = pixel (0, 0) of frame 0, dynamic code = pixel (0, 1) of each frame."""

    config = SimpleNamespace(image_size=8)

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def encode(self, x: torch.Tensor) -> Latents:
        static = x[:, 0, 0, 0, 0:1]
        dynamic = x[:, :, 0, 0, 1:2]
        return Latents(Gaussian(static, static * 0), Gaussian(dynamic, dynamic * 0))

    def decode(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        frames = torch.zeros(len(dynamic), dynamic.shape[1], 1, 8, 8)
        frames[:, :, 0, 0, 0] = static
        frames[:, :, 0, 0, 1] = dynamic[..., 0]
        return frames

    def sample_static(self, n: int) -> torch.Tensor:
        return torch.full((n, 1), 5 * STEP / 255)  # always label 5

    def sample_dynamic(self, n: int, steps: int) -> torch.Tensor:
        return torch.full((n, steps, 1), 8 * STEP / 255)  # always label 8


class OracleJudge(nn.Module):
    """Reads the labels back from the pixels."""

    config = SimpleNamespace(image_size=8, factor_sizes={"colour": 6, "action": 9})

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        def read(value: torch.Tensor, size: int) -> torch.Tensor:
            label = (value * 255 / STEP).round().long().clamp(0, size - 1)
            return nn.functional.one_hot(label, size).float() * 50

        return {"colour": read(clips[:, 0, 0, 0, 0], 6), "action": read(clips[:, 0, 0, 0, 1], 9)}


def oracle_data(n: int = 300) -> SequenceData:
    rng = np.random.default_rng(0)
    colour, action = rng.integers(0, 6, n), rng.integers(0, 9, n)
    x = np.zeros((n, 4, 1, 8, 8), dtype=np.uint8)
    x[:, :, 0, 0, 0] = (colour * STEP)[:, None]
    x[:, :, 0, 0, 1] = (action * STEP)[:, None]
    return SequenceData(
        x, {"colour": colour}, {"action": action}, {"colour": 6, "action": 9}, "oracle", "test"
    )


def test_protocol_bookkeeping_on_an_oracle():
    data = oracle_data()
    result = sequential_protocol(OracleModel(), OracleJudge(), data, niter=2, batch_size=64)
    # Kept codes are read back exactly; swapped static codes match the static donor.
    assert result["sample_static/acc/action"] == 1.0
    assert result["sample_dynamic/acc/colour"] == 1.0
    assert result["swap/acc/colour"] == 1.0 and result["swap/acc/action"] == 1.0
    # Sampled codes always give label 5 / 8: accuracy is that label's frequency.
    freq5 = (data.static["colour"] == 5).mean()
    assert result["sample_static/acc/colour"] == pytest.approx(freq5, abs=0.06)
    # IS on the kept (one-hot) action: K classes, all confident; on the sampled: one class.
    assert result["sample_static/is"] == pytest.approx(9.0, rel=1e-3)
    assert result["sample_dynamic/is"] == pytest.approx(1.0, rel=1e-3)
    assert result["sample_static/acc/action_std"] == 0.0


def test_inception_score_known_answers():
    uniform = np.full((10, 4), 0.25)
    assert inception_scores(uniform) == pytest.approx(
        {"is": 1.0, "h_yx": math.log(4), "h_y": math.log(4)}
    )
    confident = np.eye(4)[np.arange(12) % 4]
    assert inception_scores(confident) == pytest.approx(
        {"is": 4.0, "h_yx": 0.0, "h_y": math.log(4)}, abs=1e-6
    )


def test_balanced_subset_takes_m_of_each_class():
    labels = np.array([0, 1, 1, 2, 2, 2, 0, 1])
    keep = balanced_subset(labels)
    assert sorted(labels[keep].tolist()) == [0, 0, 1, 1, 2, 2]


def test_too_few_clips_is_one_sentence():
    with pytest.raises(UnweaveError, match="at least batch_size=128 clips"):
        sequential_protocol(OracleModel(), OracleJudge(), oracle_data(50))


def test_judge_of_another_data_set_or_size_is_refused():
    from unweave.metrics.sequential import check_judge

    data = oracle_data()
    info = {"params": {"data": "sprites"}}
    with pytest.raises(UnweaveError, match="trained on 'sprites'.*the run's data is 'oracle'"):
        check_judge(OracleJudge(), info, OracleModel(), data)
    judge = OracleJudge()
    judge.config = SimpleNamespace(image_size=16, factor_sizes={"colour": 6, "action": 9})
    with pytest.raises(UnweaveError, match="--image-size 8"):
        check_judge(judge, {"params": {"data": "oracle"}}, OracleModel(), data)
