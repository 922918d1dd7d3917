"""Judge classifiers for labelled sequence data: what the sequential metrics ask "who is this?".

The architecture is the reference Sprites judge (``classifier_Sprite_all`` in the DBSE and
C-DSVAE code; reference/dbse.md §3): the DCGAN frame encoder with g = 128, a one-layer
bidirectional LSTM (hidden 256) whose last forward and first backward states (512) feed one
head per factor, Linear(512 -> 256) -> ReLU -> Linear(256 -> values). The reference weights
are public (``judges/Sprite/sprite_judge.tar`` in JunwenBai/C-DSVAE): ``unweave judge
import`` maps them onto this module (:mod:`unweave.judges.published`); ``unweave judge
train`` trains a judge of the same layout on the labels of any labelled clip set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from unweave.nn.frames import FrameEncoder


@dataclass
class JudgeConfig:
    """Sizes of a judge; defaults are the reference Sprites judge's."""

    factor_sizes: dict[str, int] = field(default_factory=dict)  # factor name -> values
    image_size: int = 64
    channels: int = 3
    base_channels: int = 64
    g_dim: int = 128
    hidden_dim: int = 256


class SequenceJudge(nn.Module):
    """Clips ``(B, T, C, H, W)`` in [0, 1] -> logits ``{factor: (B, values)}``."""

    def __init__(self, config: JudgeConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.frame_encoder = FrameEncoder(c.g_dim, c.image_size, c.channels, c.base_channels)
        self.lstm = nn.LSTM(c.g_dim, c.hidden_dim, 1, bidirectional=True, batch_first=True)
        self.heads = nn.ModuleDict(
            {
                name: nn.Sequential(
                    nn.Linear(2 * c.hidden_dim, c.hidden_dim),
                    nn.ReLU(),
                    nn.Linear(c.hidden_dim, size),
                )
                for name, size in c.factor_sizes.items()
            }
        )

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        b, t = clips.shape[:2]
        h = self.frame_encoder(clips.reshape(b * t, *clips.shape[2:])).view(b, t, -1)
        out, _ = self.lstm(h)
        hidden = self.config.hidden_dim
        summary = torch.cat([out[:, -1, :hidden], out[:, 0, hidden:]], dim=-1)
        return {name: head(summary) for name, head in self.heads.items()}

    def export_config(self) -> dict:
        return asdict(self.config)
