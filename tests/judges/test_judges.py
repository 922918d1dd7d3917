"""Judge classifiers: the reference architecture, training into the cache, loading, errors."""

from __future__ import annotations

import json

import pytest
import torch

from unweave.errors import UnweaveError
from unweave.judges.sequence import JudgeConfig, SequenceJudge
from unweave.judges.train import load_judge, train_judge

SPRITES_FACTORS = {"action": 9, "skin": 6, "pants": 6, "top": 6, "hair": 6}
TINY_TOY = {"name": "toy-sprites", "options": {"size": 16, "n_train": 64, "n_test": 32}}


def test_reference_sprites_judge_size_and_outputs():
    judge = SequenceJudge(JudgeConfig(factor_sizes=SPRITES_FACTORS))
    n = sum(p.numel() for p in judge.parameters())
    assert 5.1e6 < n < 5.4e6  # reference/dbse.md §3: about 5.26M parameters
    logits = judge(torch.rand(2, 8, 3, 64, 64))
    assert {k: tuple(v.shape) for k, v in logits.items()} == {
        k: (2, v) for k, v in SPRITES_FACTORS.items()
    }


def test_train_cache_and_load_round_trip(fresh_cache):
    folder = train_judge(TINY_TOY, 16, {"epochs": 1, "batch_size": 16}, enable_progress_bar=False)
    info = json.loads((folder / "judge.json").read_text())
    assert set(info["test_accuracy"]) == {"skin", "hair", "top", "pants", "action"}
    judge, loaded = load_judge(TINY_TOY, 16, {"epochs": 1, "batch_size": 16})
    assert loaded == info and not judge.training
    assert (
        train_judge(TINY_TOY, 16, {"epochs": 1, "batch_size": 16}) == folder
    )  # found in the cache


def test_missing_judge_says_how_to_train_it(fresh_cache):
    with pytest.raises(
        UnweaveError, match="unweave judge train --data toy-sprites --image-size 32"
    ):
        load_judge(TINY_TOY, 32)
