"""unweave: disentangled representation learning for sequences and images."""

from unweave.export import load

__version__ = "0.1.0"
__all__ = ["__version__", "load"]
