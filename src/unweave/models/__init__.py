"""The methods, by the name used on the command line."""

from __future__ import annotations

from torch import nn

from unweave.errors import UnweaveError
from unweave.models.audio_dbse import AudioDBSE, AudioDBSEConfig
from unweave.models.base import Latents, SequentialVAE, SequentialVAEConfig, VideoVAEConfig
from unweave.models.dbse import DBSE, DBSEConfig
from unweave.models.did import DiD, DiDConfig
from unweave.models.dsvae import DSVAE, DSVAEConfig
from unweave.models.fhvae import FHVAE, FHVAEConfig
from unweave.models.segment_vae import SegmentVAE, SegmentVAEConfig
from unweave.models.series import SeriesDBSE, SeriesModel, SeriesVAE, SeriesVAEConfig
from unweave.models.two_step import TwoStep, TwoStepConfig
from unweave.models.v3 import V3, V3Config
from unweave.models.vae_family import BetaTCVAE, BetaVAE, FactorVAE

#: Method name -> model class, per modality of the data ("video" frames or "series").
MODELS: dict[str, dict[str, type]] = {
    "video": {"dbse": DBSE, "dsvae": DSVAE},
    "series": {"dbse": SeriesDBSE, "seqvae": SeriesVAE},
    "audio": {"dbse": AudioDBSE, "fhvae": FHVAE, "beta-vae": SegmentVAE},
    "fragments": {"v3": V3, "two-step": TwoStep},
    "images": {
        "beta-vae": BetaVAE,
        "beta-tcvae": BetaTCVAE,
        "factor-vae": FactorVAE,
        "did": DiD,
    },
}


def model_class(method: str, modality: str = "video") -> type:
    """The class implementing ``method`` for ``modality``, with a clear error if there is none."""
    known = MODELS.get(modality, {})
    if method not in known:
        raise UnweaveError(
            f"Unknown method '{method}' for {modality} data; expected one of: {', '.join(known)}."
        )
    return known[method]


def build_model(method: str, settings: dict, modality: str = "video") -> nn.Module:
    """Instantiate ``method`` for ``modality`` from its ``model`` settings (unknown keys fail)."""
    cls = model_class(method, modality)
    return cls(cls.config_class.from_dict(settings))


__all__ = [
    "BetaTCVAE",
    "BetaVAE",
    "FactorVAE",
    "AudioDBSE",
    "AudioDBSEConfig",
    "FHVAE",
    "FHVAEConfig",
    "SegmentVAE",
    "SegmentVAEConfig",
    "SequentialVAEConfig",
    "V3",
    "V3Config",
    "DBSE",
    "DBSEConfig",
    "DSVAE",
    "DSVAEConfig",
    "DiD",
    "DiDConfig",
    "Latents",
    "MODELS",
    "SequentialVAE",
    "SeriesDBSE",
    "SeriesModel",
    "SeriesVAE",
    "SeriesVAEConfig",
    "TwoStep",
    "TwoStepConfig",
    "VideoVAEConfig",
    "build_model",
    "model_class",
]
