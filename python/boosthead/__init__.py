"""boosthead: gradient-boosted neural network heads (GBNN) for PyTorch.

``GBNNClassifier`` and ``GBNNRegressor`` are scikit-learn estimators; ``load`` reads a model
file back as one; ``boosthead.nn`` boosts the head of a frozen backbone and returns one
scriptable module. Importing the package loads its compiled library into the running PyTorch,
which also registers ``torch.classes.boosthead.Trainer``. See docs/PYTHON.md.
"""

from . import _build_info
from ._library import DEFAULTS, OPTION_TYPES, Trainer
from ._estimators import GBNNClassifier, GBNNRegressor
from ._model_file import load

__version__ = _build_info.version

__all__ = ["GBNNClassifier", "GBNNRegressor", "load", "Trainer", "DEFAULTS", "OPTION_TYPES", "__version__"]
