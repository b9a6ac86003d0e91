"""Deep co-clustering of the rows and columns of a data matrix, scikit-learn compatible."""

from ._dlbm import DeepLatentBlockCoclustering

__all__ = ["DeepLatentBlockCoclustering"]
__version__ = "0.1.0.dev0"
