"""Lightning data module for sequence data sets, with an epoch-seeded shuffle.

A model may serve its own training items: ``model.training_items(train_data)`` returns
``(torch Dataset, collate_fn)`` or ``None`` for the default items of the data kind; batches
are then ``train.batch_size`` of those items (fragments drawn i.i.d., whole utterances).

Shuffling uses a ``DistributedSampler`` seeded by ``train.seed`` and the epoch (Lightning
calls ``set_epoch``), on one process as on many, so a resumed run sees the same batches as
an uninterrupted one and DDP ranks see disjoint shards.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset, default_collate

from unweave.data.base import SequenceData, SequenceTorchDataset, collate_batch
from unweave.data.fragments import FragmentData, FragmentTorchDataset
from unweave.data.ground_truth import GroundTruthImages, ImageTorchDataset
from unweave.data.registry import load_data
from unweave.data.timeseries import SeriesData, SeriesTorchDataset
from unweave.errors import UnweaveError


class SequenceDataModule(pl.LightningDataModule):
    """Serves the train split of ``config["data"]`` in batches of ``train.batch_size``."""

    def __init__(
        self, config: dict[str, Any], train_data: SequenceData | SeriesData | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.train_data = train_data

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is None:
            data = self.config["data"]
            self.train_data = load_data(
                data["name"], "train", data.get("root"), **data.get("options", {})
            )

    def train_dataloader(self, model: torch.nn.Module | None = None) -> DataLoader:
        """The shuffled training batches; ``model`` (default: the trainer's) may serve its own
        training items."""
        drop_last = self.config["train"]["drop_last"]
        trainer = self.trainer
        if model is None and trainer is not None:
            model = getattr(trainer.lightning_module, "model", None)
        training_items = getattr(model, "training_items", None)
        custom = None if training_items is None else training_items(self.train_data)
        if custom is not None:  # e.g. Two-Step's i.i.d. fragments, audio DBSE's utterances
            dataset, collate = custom
        elif isinstance(self.train_data, SeriesData):
            dataset, collate = SeriesTorchDataset(self.train_data), default_collate
        elif isinstance(self.train_data, FragmentData):
            dataset, collate = FragmentTorchDataset(self.train_data), default_collate
        elif isinstance(self.train_data, GroundTruthImages):
            dataset, collate = ImageTorchDataset(self.train_data), default_collate
        else:
            dataset, collate = SequenceTorchDataset(self.train_data), collate_batch
        batch_size = self.config["train"]["batch_size"]
        if len(dataset) < batch_size:
            raise UnweaveError(
                f"The train split of '{self.train_data.name}' gives {len(dataset)} training "
                f"items, fewer than train.batch_size={batch_size}; lower the batch size."
            )
        training_rows = getattr(model, "training_rows", None)
        if training_rows is not None:  # e.g. FHVAE's block of sequences for this epoch
            rows = training_rows(
                self.train_data,
                trainer.current_epoch if trainer else 0,
                self.config["train"]["seed"],
            )
            dataset = dataset if rows is None else Subset(dataset, rows.tolist())
        sampler = DistributedSampler(
            dataset,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
            shuffle=True,
            seed=self.config["train"]["seed"],
            drop_last=True,  # equal shards per rank
        )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=collate,
            num_workers=0,
        )
