"""Sprites as content/style fragments: the frames of a clip share its character.

Two-Step's Sprites experiment (reference/methods.md §B) learns the character identity from
single 32x32 frames. Here a sample is one Sprites clip, its 8 frames are the fragments
(area-downscaled to ``image_size``, float32 in [0, 1]); style = the character (the
combination of skin, pants, top and hair), content = the clip's action (9 action-directions),
the same for every frame of a clip.

Splits, so that identities seen in training can be tested on other clips and unseen ones
held out, as the content/style protocol needs:

- ``train`` / ``test``: the clips of Sprites' 1,000 training characters; for every character
  ``test_actions`` of its 9 actions (a seeded choice per character) are test clips, the rest
  training clips. Style indices ``0..999`` index those characters.
- ``ood``: every clip of Sprites' 296 test characters, which training never sees (style
  indices ``0..295`` into their own names).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from unweave.data.fragments import FragmentData
from unweave.data.sprites import load_sprites
from unweave.errors import UnweaveError
from unweave.nn.frames import prepare_frames

SPLITS = ("train", "test", "ood")
STATIC = ("skin", "pants", "top", "hair")
BLOCK = 512  # clips downscaled at a time


def character_ids(static: dict[str, np.ndarray], sizes: dict[str, int]) -> np.ndarray:
    """One integer per clip for its (skin, pants, top, hair): ``(N,)`` int64."""
    return np.ravel_multi_index([static[k] for k in STATIC], [sizes[k] for k in STATIC]).astype(
        np.int64
    )


def load_sprites_fragments(
    split: str, root: str | Path, image_size: int = 32, test_actions: int = 2, seed: int = 0
) -> FragmentData:
    """Split ``split`` (``train``, ``test`` or ``ood``) of Sprites as fragments: x ``(N, 8, 3,
    image_size, image_size)`` float32; content = action ``(N, 8)``, style = character ``(N,)``.

    ``root`` is the Sprites folder (LPC sheets or the legacy npy files; see
    :func:`~unweave.data.sprites.load_sprites`).
    """
    if split not in SPLITS:
        raise UnweaveError(f"Unknown split '{split}'; expected one of: {', '.join(SPLITS)}.")
    if not 1 <= test_actions <= 8:
        raise UnweaveError(f"test_actions is {test_actions}; expected 1 to 8 of the 9 actions.")
    if image_size < 4 or 64 % image_size:
        raise UnweaveError(f"image_size is {image_size}; expected a divisor of 64 of at least 4.")
    clips = load_sprites(Path(root), "test" if split == "ood" else "train")
    characters = character_ids(clips.static, clips.factor_sizes)
    names, style = np.unique(characters, return_inverse=True)
    action = clips.dynamic["action"]
    if split == "ood":
        rows = np.arange(len(clips))
    else:
        held_out = np.zeros(len(clips), dtype=bool)
        for index in range(len(names)):  # per character, a seeded choice of its test actions
            mine = np.flatnonzero(style == index)
            rng = np.random.default_rng([seed, int(names[index])])
            held_out[rng.choice(mine, size=min(test_actions, len(mine) - 1), replace=False)] = True
        rows = np.flatnonzero(held_out if split == "test" else ~held_out)
    frames = clips.x.shape[1]
    x = np.empty((len(rows), frames, 3, image_size, image_size), dtype=np.float32)
    for start in range(0, len(rows), BLOCK):
        block = torch.from_numpy(np.asarray(clips.x[rows[start : start + BLOCK]]))
        x[start : start + BLOCK] = prepare_frames(block, image_size).numpy()
    value = clips.value_names
    sizes = [clips.factor_sizes[k] for k in STATIC]
    style_names = [
        "/".join(value[k][v] for k, v in zip(STATIC, np.unravel_index(c, sizes), strict=True))
        for c in names
    ]
    return FragmentData(
        x=x,
        content=np.repeat(action[rows, None], frames, axis=1).astype(np.int64),
        style=style[rows].astype(np.int64),
        name="sprites-fragments",
        split=split,
        meta={
            "value_names": {"content": list(value["action"]), "style": style_names},
            "image_size": image_size,
            "test_actions": test_actions,
            "seed": seed,
        },
    )
