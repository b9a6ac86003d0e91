"""Deep co-clustering of the rows and columns of a data matrix, scikit-learn compatible."""

from ._dlbm import DeepLatentBlockCoclustering
from ._variational import VariationalCoclustering

__all__ = ["DeepLatentBlockCoclustering", "VariationalCoclustering"]
__version__ = "0.1.0.dev0"
