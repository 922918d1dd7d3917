"""unweave: disentangled representation learning for sequences and images.

From Python: :func:`fit` a method on a data set or your arrays, :func:`load` a run,
:func:`evaluate` any model with the field's protocols; :mod:`unweave.datasets` lists and
loads the data sets.
"""

from unweave import datasets
from unweave.api import Run, encode, evaluate, fit, load

__version__ = "0.1.0"
__all__ = ["Run", "__version__", "datasets", "encode", "evaluate", "fit", "load"]
