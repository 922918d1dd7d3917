"""RandomSegments: segments at any start of the utterances that fixed segments were cut from
(FHVAE's ``rand_seg``)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SEGMENT, cut_utterances

from unweave.data.random_segments import RandomSegments
from unweave.errors import UnweaveError


def test_every_start_up_to_the_last_cut_frame_serves_the_utterances_frames() -> None:
    data, frames = cut_utterances([5, 9, 12])  # 1, 3 and 4 segments; 0, 0 and 1 frames dropped
    items = RandomSegments(data)
    assert items.counts.tolist() == [1, 3, 4]
    assert items.n_starts.tolist() == [1, 5, 7]  # the last start: (count - 1) * shift
    assert len(items) == 13
    served = [items[i] for i in range(len(items))]
    expected = [(u, p) for u, n in enumerate([1, 5, 7]) for p in range(n)]
    for item, (u, p) in zip(served, expected, strict=True):
        np.testing.assert_array_equal(item["x"].numpy(), frames[u][p : p + SEGMENT])
        assert int(item["sequence"]) == u


def test_a_pass_draws_each_utterances_count_of_uniform_starts_from_its_rng() -> None:
    data, _ = cut_utterances([9, 12, 30])
    items = RandomSegments(data)
    drawn = items.draw(np.array([0, 2]), np.random.default_rng(0))
    owners = [int(items[int(i)]["sequence"]) for i in drawn]
    assert owners == [0] * 3 + [2] * 13  # the block's utterances, each its stored count
    again = items.draw(np.array([0, 2]), np.random.default_rng(0))
    np.testing.assert_array_equal(drawn, again)
    # Over many passes every start of utterance 2 (0..24) comes up, about equally often.
    rng = np.random.default_rng(1)
    starts = np.concatenate([items.draw(np.array([2]), rng) for _ in range(400)])
    counts = np.bincount(starts - items.offsets[2], minlength=items.n_starts[2])
    assert len(counts) == 25 and counts.min() > 0.6 * counts.mean()


def test_segments_stack_the_items_for_the_block_estimate() -> None:
    data, frames = cut_utterances([9, 12])
    items = RandomSegments(data)
    x, utterance = items.segments(np.array([0, 6, 4]))
    assert x.shape == (3, SEGMENT, 2) and utterance.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(x[1].numpy(), frames[1][1 : 1 + SEGMENT])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"meta": {"chunk_samples": 3200}}, "wave chunks"),
        ({"meta": {"shift": 6}}, r"shift 6 <= segment 5"),
        ({"groups": {"utterance": np.array([1, 1, 0, 0, 0])}}, "out of order"),
        ({"groups": {}}, "no groups"),
    ],
)
def test_data_that_was_not_cut_from_utterances_is_refused(change: dict, message: str) -> None:
    data, _ = cut_utterances([7, 9])
    for field_name, value in change.items():
        getattr(data, field_name).clear() if not value else getattr(data, field_name).update(value)
    with pytest.raises(UnweaveError, match=message):
        RandomSegments(data)
