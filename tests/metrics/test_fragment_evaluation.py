"""The content/style evaluation of a model: codes by label, probes on a bounded sample."""

from __future__ import annotations

import numpy as np
import torch

from unweave.data.fragments import FragmentData
from unweave.metrics import fragments
from unweave.metrics.fragments import content_style_evaluation


class OracleModel(torch.nn.Module):
    """Codes that are the labels themselves (one-hot), read off the fragments' pixel 0."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def content_style_codes(self, x: torch.Tensor):
        flat = x.flatten(0, 1)
        content = torch.nn.functional.one_hot(flat[:, 0, 0, 0].long(), 4).float()
        style = torch.nn.functional.one_hot(flat[:, 0, 0, 1].long(), 3).float()
        return content, style, None


def labelled(n_samples: int, seed: int) -> FragmentData:
    rng = np.random.default_rng(seed)
    content = rng.integers(0, 4, (n_samples, 5))
    style = rng.integers(0, 3, n_samples)
    x = np.zeros((n_samples, 5, 1, 4, 4), np.float32)
    x[..., 0, 0, 0] = content
    x[..., 0, 0, 1] = style[:, None]
    return FragmentData(x=x, content=content, style=style, name="toy", split="train")


def test_oracle_codes_score_one_and_probes_fit_on_a_bounded_sample(monkeypatch) -> None:
    sizes = []
    real = fragments.leakage_report
    monkeypatch.setattr(
        fragments, "leakage_report", lambda z, y, *a: sizes.append(len(y)) or real(z, y, *a)
    )
    report = content_style_evaluation(
        OracleModel(), labelled(40, 0), labelled(20, 1), max_probe_train=50
    )
    assert sizes == [50, 50]  # 200 training fragments, 50 drawn for each probe
    assert report["retrieval/content_code->content"] > 0.95
    assert report["retrieval/style_code->style"] > 0.95
    assert report["probe/content from content code"] == 1.0
    assert report["probe/content from style code"] < 0.6
    assert "codebook/purity" not in report  # no atoms
