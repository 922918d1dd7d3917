"""The published Sprites judge, imported into unweave's :class:`SequenceJudge`.

DBSE's and C-DSVAE's evaluation scripts load one judge: ``judges/Sprite/sprite_judge.tar`` in
JunwenBai/C-DSVAE (``test_sprite_cls.py:97``; DBSE ``run_sprites.py:125``), a ``torch.save``
of ``{"state_dict": ...}`` for ``classifier_Sprite_all`` (C-DSVAE ``model.py:369``). Its layout
is unweave's judge module for module, so the keys map one-to-one:

==========================================  ======================================
reference key                               unweave key
==========================================  ======================================
``encoder.c{k}.main.{0,1}.*`` (k = 1..4)    ``frame_encoder.net.{3(k-1), 3(k-1)+1}.*``
``encoder.c5.{0,1}.*``                      ``frame_encoder.net.{12, 13}.*``
``bilstm.*``                                ``lstm.*``
``cls_{action,skin,pant,top,hair}.{0,2}.*``  ``heads.{action,skin,pants,top,hair}.{0,2}.*``
==========================================  ======================================

The file is read with ``torch.load(weights_only=True)``: tensors only, no pickled code runs.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from unweave.data.base import SequenceData
from unweave.data.cache import COMPLETE_MARKER, cache_key, cache_root, cached_build
from unweave.data.registry import load_data
from unweave.errors import UnweaveError
from unweave.judges.sequence import JudgeConfig, SequenceJudge
from unweave.judges.train import factor_names, judge_accuracy, judge_params

#: The reference heads' names -> unweave's factor names (Sprites).
REFERENCE_HEADS = {
    "action": "action",
    "skin": "skin",
    "pant": "pants",
    "top": "top",
    "hair": "hair",
}
#: Blocks of the reference DCGAN encoder at 64x64: ``c1``..``c4`` (conv, BN, LeakyReLU), ``c5``.
N_CONV_BLOCKS = 4


def unweave_key(reference_key: str) -> str | None:
    """The unweave judge key of a reference ``classifier_Sprite_all`` key (None: not one)."""
    if match := re.fullmatch(r"encoder\.c([1-4])\.main\.([01])\.(.+)", reference_key):
        block, layer, rest = int(match[1]), int(match[2]), match[3]
        return f"frame_encoder.net.{3 * (block - 1) + layer}.{rest}"
    if match := re.fullmatch(r"encoder\.c5\.([01])\.(.+)", reference_key):
        return f"frame_encoder.net.{3 * N_CONV_BLOCKS + int(match[1])}.{match[2]}"
    if match := re.fullmatch(r"bilstm\.(.+)", reference_key):
        return f"lstm.{match[1]}"
    match = re.fullmatch(r"cls_([a-z]+)\.([02])\.(.+)", reference_key)
    if match and match[1] in REFERENCE_HEADS:
        return f"heads.{REFERENCE_HEADS[match[1]]}.{match[2]}.{match[3]}"
    return None


def read_reference_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a reference judge file (``{"state_dict": ...}`` or a bare state dict)."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UnweaveError(
            f"{path} does not exist; expected the judge file sprite_judge.tar."
        ) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnweaveError(
            f"{path} is not a weights-only PyTorch file ({first}); expected the judge's "
            "state_dict as torch.save writes it."
        ) from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnweaveError(
            f"{path} holds no state_dict of tensors; expected {{'state_dict': {{name: tensor}}}}."
        )
    return state


def convert_reference_state(
    state: dict[str, torch.Tensor], where: str = "the judge file"
) -> tuple[JudgeConfig, dict[str, torch.Tensor]]:
    """Map a reference judge state dict onto unweave's keys; sizes are read off the tensors."""
    unknown = [k for k in state if unweave_key(k) is None]
    if unknown:
        raise UnweaveError(
            f"{where} has the key '{unknown[0]}', which is not in the reference Sprites judge "
            "(classifier_Sprite_all: encoder.c1-c5, bilstm, cls_action/skin/pant/top/hair)."
        )
    mapped = {unweave_key(k): v for k, v in state.items()}
    try:
        hidden = mapped["lstm.weight_hh_l0"].shape[1]
        config = JudgeConfig(
            factor_sizes={
                name: mapped[f"heads.{name}.2.weight"].shape[0]
                for name in ("skin", "pants", "top", "hair", "action")
            },
            image_size=4 * 2**N_CONV_BLOCKS,
            channels=mapped["frame_encoder.net.0.weight"].shape[1],
            base_channels=mapped["frame_encoder.net.0.weight"].shape[0],
            g_dim=mapped[f"frame_encoder.net.{3 * N_CONV_BLOCKS}.weight"].shape[0],
            hidden_dim=hidden,
        )
    except KeyError as err:
        raise UnweaveError(
            f"{where} lacks the key of '{err.args[0]}' (in unweave's names); "
            "expected the whole reference Sprites judge."
        ) from None
    judge = SequenceJudge(config)
    expected = judge.state_dict()
    missing = sorted(set(expected) - set(mapped))
    wrong = [k for k in expected if k in mapped and mapped[k].shape != expected[k].shape]
    if missing or wrong:
        key = (missing or wrong)[0]
        shape = tuple(mapped[key].shape) if key in mapped else "nothing"
        raise UnweaveError(
            f"{where} gives {shape} for '{key}' (in unweave's names); expected "
            f"{tuple(expected[key].shape)}."
        )
    return config, mapped


def import_judge(
    path: str | Path, data: dict[str, Any], test_split: SequenceData | None = None
) -> Path:
    """Import the reference judge file at ``path`` for ``data`` (``{"name", "root", "options"}``)
    into the judge cache, with its accuracy on the data's test split; returns the folder.

    A later import replaces the cached one. ``test_split`` replaces loading the test split.
    """
    path = Path(path)
    config, state = convert_reference_state(read_reference_state(path), str(path))
    if test_split is None:
        test_split = load_data(data["name"], "test", data.get("root"), **data.get("options", {}))
    if sorted(config.factor_sizes.items()) != sorted(test_split.factor_sizes.items()):
        raise UnweaveError(
            f"{path} judges factors {config.factor_sizes}; the data '{data['name']}' has "
            f"{test_split.factor_sizes}."
        )
    config.factor_sizes = {n: config.factor_sizes[n] for n in factor_names(test_split)}
    judge = SequenceJudge(config)
    judge.load_state_dict(state)
    params = judge_params(data, config.image_size, "published")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def build(folder: Path) -> None:
        accuracy = judge_accuracy(judge, test_split)
        save_file(
            {k: v.contiguous() for k, v in judge.state_dict().items()},
            str(folder / "judge.safetensors"),
        )
        info = {
            "config": judge.export_config(),
            "params": params,
            "test_accuracy": accuracy,
            "source": {"file": str(path.resolve()), "sha256": digest},
        }
        (folder / "judge.json").write_text(json.dumps(info, indent=1))

    cached = cache_root() / "judges" / cache_key(params) / "judge.json"
    if cached.exists() and json.loads(cached.read_text())["source"]["sha256"] != digest:
        (cached.parent / COMPLETE_MARKER).unlink()  # another file: cached_build replaces it
    return cached_build("judges", params, build)
