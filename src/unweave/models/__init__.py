"""The methods, by the name used on the command line."""

from __future__ import annotations

from unweave.errors import UnweaveError
from unweave.models.base import Latents, SequentialVAE, VideoVAEConfig
from unweave.models.dbse import DBSE, DBSEConfig
from unweave.models.dsvae import DSVAE, DSVAEConfig

MODELS: dict[str, type[SequentialVAE]] = {"dbse": DBSE, "dsvae": DSVAE}


def build_model(method: str, settings: dict) -> SequentialVAE:
    """Instantiate method ``method`` from its ``model`` settings (unknown keys are errors)."""
    if method not in MODELS:
        raise UnweaveError(f"Unknown method '{method}'; expected one of: {', '.join(MODELS)}.")
    cls = MODELS[method]
    return cls(cls.config_class.from_dict(settings))


__all__ = [
    "DBSE",
    "DBSEConfig",
    "DSVAE",
    "DSVAEConfig",
    "Latents",
    "MODELS",
    "SequentialVAE",
    "VideoVAEConfig",
    "build_model",
]
