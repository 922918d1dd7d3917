"""The methods, by the name used on the command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from unweave.errors import UnweaveError
from unweave.models.audio_baselines import AudioCDSVAE, AudioSKD, AudioSPYL
from unweave.models.audio_dbse import AudioDBSE, AudioDBSEConfig
from unweave.models.base import Latents, SequentialVAE, SequentialVAEConfig, VideoVAEConfig
from unweave.models.cdsvae import CDSVAE, CDSVAEConfig
from unweave.models.dbse import DBSE, DBSEConfig
from unweave.models.did import DiD, DiDConfig
from unweave.models.dsvae import DSVAE, DSVAEConfig
from unweave.models.fhvae import FHVAE, FHVAEConfig
from unweave.models.s3vae import S3VAE, S3VAEConfig
from unweave.models.segment_vae import SegmentVAE, SegmentVAEConfig
from unweave.models.series import SeriesDBSE, SeriesModel, SeriesVAE, SeriesVAEConfig
from unweave.models.series_baselines import SeriesSPYL
from unweave.models.skd import SKD, SKDConfig
from unweave.models.spyl import SPYL, SPYLConfig
from unweave.models.two_step import TwoStep, TwoStepConfig
from unweave.models.v3 import V3, V3Config
from unweave.models.vae_family import BetaTCVAE, BetaVAE, FactorVAE

#: Method name -> model class, per modality of the data ("video" frames or "series").
MODELS: dict[str, dict[str, type]] = {
    "video": {
        "dbse": DBSE,
        "dsvae": DSVAE,
        "c-dsvae": CDSVAE,
        "spyl": SPYL,
        "skd": SKD,
        "s3vae": S3VAE,
    },
    "series": {"dbse": SeriesDBSE, "seqvae": SeriesVAE, "spyl": SeriesSPYL},
    "audio": {
        "dbse": AudioDBSE,
        "fhvae": FHVAE,
        "beta-vae": SegmentVAE,
        "c-dsvae": AudioCDSVAE,
        "spyl": AudioSPYL,
        "skd": AudioSKD,
    },
    "fragments": {"v3": V3, "two-step": TwoStep},
    "images": {
        "beta-vae": BetaVAE,
        "beta-tcvae": BetaTCVAE,
        "factor-vae": FactorVAE,
        "did": DiD,
    },
}


#: What a model class needs to train, evaluate and export (DESIGN.md's model contract).
CONTRACT = ("config_class", "batch_inputs", "loss", "encode", "decode", "export_config")


def register_method(
    name: str, modality: str, presets: dict[str, dict[str, Any]] | None = None
) -> Callable[[type], type]:
    """Class decorator: ``name`` trains, evaluates, swaps and reports ``modality`` data
    through every command. ``presets`` (preset name -> ``model``/``optim``/``train``
    settings) serve every data set of the modality that has no preset file for ``name``.

    The class follows the model contract: ``config_class`` (a dataclass with
    ``from_dict(values, where)``), ``batch_inputs(batch) -> tuple``, ``loss(*inputs) ->
    {"loss": ..., <term>: ...}``, ``encode``, ``decode`` and ``export_config() -> dict``.
    """
    from unweave.data.registry import MODALITIES

    if modality not in MODALITIES:
        raise UnweaveError(
            f"Method '{name}' has modality '{modality}'; expected one of: {', '.join(MODALITIES)}."
        )

    def add(cls: type) -> type:
        missing = [part for part in CONTRACT if not hasattr(cls, part)]
        if missing:
            raise UnweaveError(
                f"{cls.__name__} lacks {', '.join(missing)}; the model contract needs "
                f"{', '.join(CONTRACT)}."
            )
        cls.name, cls.modality = name, modality
        if presets is not None:
            cls.presets = presets
        MODELS.setdefault(modality, {})[name] = cls
        return cls

    return add


def register_installed_methods(group: str = "unweave.methods") -> None:
    """Register the model class each installed package names in the entry-point ``group``
    (the entry point's name is the method's; the class says its ``modality``)."""
    from unweave.plugins import installed

    for point, cls in installed(group):
        if not isinstance(cls, type) or not hasattr(cls, "modality"):
            raise UnweaveError(
                f"The entry point '{point.name}' ({point.value}) in {group} is not a model "
                "class with a 'modality'."
            )
        register_method(point.name, cls.modality, getattr(cls, "presets", None))(cls)


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


register_installed_methods()

__all__ = [
    "register_method",
    "BetaTCVAE",
    "BetaVAE",
    "CDSVAE",
    "CDSVAEConfig",
    "FactorVAE",
    "AudioCDSVAE",
    "AudioDBSE",
    "AudioSKD",
    "AudioSPYL",
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
    "S3VAE",
    "S3VAEConfig",
    "SKD",
    "SKDConfig",
    "SPYL",
    "SPYLConfig",
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
