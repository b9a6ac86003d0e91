"""The data of one fit as the deep latent block model's training reads it."""

from dataclasses import dataclass

import numpy as np
import torch

from .._parallel.reducer import IDENTITY


@dataclass
class TrainingData:
    """The data on the training device, prepared once for all restarts.

    Attributes
    ----------
    adjacency, adjacency_t : Tensor
        ``Abar`` (M, P) and its transpose, dense or sparse CSR.
    cells : CellData
        Nonzero cells of the raw matrix.
    row_means, column_means : ndarray of shape (M,) and (P,)
        Mean value of each row (column), for the degree-correction offsets.
    mean_value : float
        Mean value of the matrix.
    variance : float
        Variance of the matrix's values (initial Gaussian noise variance).
    row_singular, column_singular : ndarray of shape (M, k) and (P, k)
        Leading singular vectors of ``Abar`` for the spectral start.
    csr : csr_matrix of shape (M, P)
        The validated matrix on the CPU: the k-means start scores partitions on it.
    skip_first_direction : bool
        Whether the leading singular direction is the degrees' (degree-normalised input),
        which the spectral mean head then leaves out.
    reducers : tuple of two Reducer
        Sums over the rows and over the columns: the identity, unless this process holds
        one shard of the rows (``skcocluster.distributed``).
    """

    adjacency: torch.Tensor
    adjacency_t: torch.Tensor
    cells: object
    row_means: np.ndarray
    column_means: np.ndarray
    mean_value: float
    variance: float
    row_singular: np.ndarray
    column_singular: np.ndarray
    csr: object
    skip_first_direction: bool = True
    reducers: tuple = (IDENTITY, IDENTITY)
