"""Sprites as fragments: the frames of a clip, style = character, content = action."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_DATA

from unweave.data.sprites_fragments import load_sprites_fragments
from unweave.errors import UnweaveError

SHEETS = SHARED_DATA / "sprites-lpc"


@pytest.fixture(scope="module")
def splits():
    if not SHEETS.is_dir():
        pytest.skip(f"real Sprites sheets not found at {SHEETS}")
    return {s: load_sprites_fragments(s, SHEETS) for s in ("train", "test", "ood")}


def test_clips_are_split_within_characters_and_unseen_ones_are_held_out(splits) -> None:
    train, test, ood = splits["train"], splits["test"], splits["ood"]
    assert train.x.shape == (7000, 8, 3, 32, 32) and train.x.dtype == np.float32
    assert test.x.shape == (2000, 8, 3, 32, 32) and ood.x.shape == (2664, 8, 3, 32, 32)
    assert train.x.min() >= 0 and train.x.max() <= 1 and train.x.mean() > 0.02
    # every training character: 7 training and 2 test clips, of 9 different actions
    np.testing.assert_array_equal(np.bincount(train.style), np.full(1000, 7))
    np.testing.assert_array_equal(np.bincount(test.style), np.full(1000, 2))
    for character in (0, 517, 999):
        actions = {
            *train.content[train.style == character, 0],
            *test.content[test.style == character, 0],
        }
        assert actions == set(range(9))
    assert train.meta["value_names"]["style"] == test.meta["value_names"]["style"]
    # the held-out characters are Sprites' test characters, none seen in training
    names = set(train.meta["value_names"]["style"])
    assert len(ood.meta["value_names"]["style"]) == 296
    assert names.isdisjoint(ood.meta["value_names"]["style"])
    # content is the clip's action, the same on every frame
    assert (train.content == train.content[:, :1]).all() and set(train.content[:, 0]) == set(
        range(9)
    )


def test_bad_options_are_named() -> None:
    with pytest.raises(UnweaveError, match="Unknown split 'valid'"):
        load_sprites_fragments("valid", SHEETS)
    with pytest.raises(UnweaveError, match="test_actions is 9"):
        load_sprites_fragments("train", SHEETS, test_actions=9)
    with pytest.raises(UnweaveError, match="image_size is 48"):
        load_sprites_fragments("train", SHEETS, image_size=48)
