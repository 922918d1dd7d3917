"""Judge classifiers: the reference architecture, training into the cache, loading, errors."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import reference_judge_state

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


TOY_64 = {"name": "toy-sprites", "options": {"size": 64, "n_train": 16, "n_test": 16}}


def test_published_judge_keys_map_one_to_one(fresh_cache, tmp_path):
    from unweave.judges.published import import_judge, unweave_key

    state = reference_judge_state()
    path = tmp_path / "sprite_judge.tar"
    torch.save({"state_dict": state, "epoch": 3}, path)
    folder = import_judge(path, TOY_64)
    judge, info = load_judge(TOY_64, 64, source="published")
    assert info["source"]["file"] == str(path.resolve())
    assert set(info["test_accuracy"]) == set(SPRITES_FACTORS)
    assert (folder / "judge.json").exists() and not judge.training
    mapped = judge.state_dict()
    assert len(mapped) == len(state)  # one-to-one: nothing left over, nothing missing
    for key, value in state.items():
        assert torch.equal(mapped[unweave_key(key)], value), key
    # The head's middle width is the LSTM's hidden size (the reference), not a fixed 256.
    assert judge.heads["action"][0].out_features == 256
    # The mapped judge computes what the reference does: action logits from the last forward
    # and first backward LSTM states through cls_action.
    clips = torch.rand(2, 8, 3, 64, 64)
    with torch.no_grad():
        frames = judge.frame_encoder(clips.flatten(0, 1)).view(2, 8, -1)
        out, _ = judge.lstm(frames)
        summary = torch.cat([out[:, -1, :256], out[:, 0, 256:]], dim=-1)
        hidden = torch.relu(summary @ state["cls_action.0.weight"].T + state["cls_action.0.bias"])
        expected = hidden @ state["cls_action.2.weight"].T + state["cls_action.2.bias"]
        assert torch.allclose(judge(clips)["action"], expected, atol=1e-5)


def test_published_judge_of_other_width_and_a_reimport(fresh_cache, tmp_path):
    from unweave.judges.published import import_judge

    path = tmp_path / "judge.tar"
    torch.save(reference_judge_state(hidden=32), path)  # a bare state dict is read too
    import_judge(path, TOY_64)
    judge, _ = load_judge(TOY_64, 64, source="published")
    assert judge.config.hidden_dim == 32 and judge.heads["skin"][0].out_features == 32
    torch.save({"state_dict": reference_judge_state(seed=1, hidden=32)}, path)
    import_judge(path, TOY_64)  # another file replaces the cached judge
    again, _ = load_judge(TOY_64, 64, source="published")
    assert not torch.equal(again.lstm.weight_hh_l0, judge.lstm.weight_hh_l0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.update({"encoder.c6.0.weight": torch.zeros(1)}), "key 'encoder.c6.0.weight'"),
        (lambda s: s.pop("cls_hair.2.weight"), "lacks the key of 'heads.hair.2.weight'"),
        (lambda s: s.pop("bilstm.bias_ih_l0"), r"gives nothing for 'lstm.bias_ih_l0'"),
        (
            lambda s: s.update({"encoder.c2.main.0.weight": torch.zeros(128, 64, 3, 3)}),
            r"gives \(128, 64, 3, 3\) for 'frame_encoder.net.3.weight'",
        ),
    ],
)
def test_a_judge_file_that_is_not_the_reference_is_one_sentence(
    fresh_cache, tmp_path, edit, message
):
    from unweave.judges.published import import_judge

    state = reference_judge_state()
    edit(state)
    path = tmp_path / "judge.tar"
    torch.save({"state_dict": state}, path)
    with pytest.raises(UnweaveError, match=message):
        import_judge(path, TOY_64)
    assert not (fresh_cache / "judges").exists() or not any((fresh_cache / "judges").iterdir())


def test_a_judge_file_with_pickled_code_is_refused(fresh_cache, tmp_path):
    from unweave.judges.published import import_judge

    path = tmp_path / "judge.tar"
    torch.save({"state_dict": reference_judge_state(), "opt": JudgeConfig()}, path)
    with pytest.raises(UnweaveError, match="not a weights-only PyTorch file"):
        import_judge(path, TOY_64)
    with pytest.raises(UnweaveError, match="unweave judge import sprite_judge.tar"):
        load_judge(TOY_64, 64, source="published")
