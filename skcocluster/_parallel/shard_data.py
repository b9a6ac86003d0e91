"""The training data of one process that holds a shard of the rows.

The process holds rows ``[start, stop)`` of the matrix: its CSR rows, the transpose of
those rows (the matching column block of ``A^T``), their degrees and their first-layer
weights. What needs every row is summed once here by the row reducer: the column degrees
(the normalisation ``D1^{-1/2} A D2^{-1/2}`` needs them), the totals and the leading
singular vectors of the spectral start.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln
import torch

from .._data.cells import CellData
from .._data.device import to_torch_operator
from .._data.training_data import TrainingData
from .._data.validation import _safe_inverse_sqrt, normalise_adjacency
from .reducer import Reducer
from .svd import sharded_randomized_svd


@dataclass
class ShardCells(CellData):
    """The cells of a row shard: sums and totals are this shard's parts; ``n_cells`` is
    the whole matrix's (the objective is divided by it on every process).

    Attributes
    ----------
    n_all_rows : int
        Rows of the whole matrix.
    """

    n_all_rows: int = 0

    @property
    def n_cells(self):
        """Number of cells of the whole matrix (as a Python int)."""
        return self.n_all_rows * self.n_cols


def prepare_shard(csr, reducer, hidden_dim, device, seed):
    """Normalise a row shard with the global degrees and move it to ``device``.

    Parameters
    ----------
    csr : csr_matrix of shape (n_local_rows, P)
        This process's rows (non-negative values).
    reducer : ProcessGroupReducer or Reducer
        Sums over the row shards.
    hidden_dim : int
        Width of the first layer: ``ceil(hidden_dim / 2)`` singular vectors are taken.
    device : torch.device
    seed : int
        Seeds the randomised SVD.

    Returns
    -------
    data : TrainingData
        Its ``reducers`` are ``reducer`` for the rows and a replicated-side reducer for
        the columns; ``data.csr`` is the shard.
    """
    n_local, n_cols = csr.shape
    n_rows = reducer.count(n_local)
    row_sums = np.asarray(csr.sum(axis=1), dtype=np.float64).ravel()
    local_column_sums = np.asarray(csr.sum(axis=0), dtype=np.float64).ravel()
    column_sums = reducer.sum_array(local_column_sums)
    total, squared_total = reducer.sum_array([csr.data.sum(), np.square(csr.data).sum()])
    n_cells = n_rows * n_cols
    normalised = normalise_adjacency(csr, _safe_inverse_sqrt(row_sums),
                                     _safe_inverse_sqrt(column_sums))
    n_components = min((hidden_dim + 1) // 2, min(n_rows, n_cols) - 1)
    u, v = sharded_randomized_svd(normalised, n_components, reducer, seed)
    cells = ShardCells(
        matrix=to_torch_operator(csr, device, False),
        matrix_t=to_torch_operator(csr.T.tocsr(), device, False),
        row_sums=torch.as_tensor(row_sums, dtype=torch.float32, device=device),
        column_sums=torch.as_tensor(local_column_sums, dtype=torch.float32, device=device),
        total=float(csr.data.sum()), squared_total=float(np.square(csr.data).sum()),
        log_factorial_total=float(gammaln(csr.data + 1.0).sum()), n_all_rows=n_rows)
    mean_value = total / n_cells
    return TrainingData(
        adjacency=to_torch_operator(normalised, device, False),
        adjacency_t=to_torch_operator(normalised.T.tocsr(), device, False),
        cells=cells, row_means=row_sums / n_cols, column_means=column_sums / n_rows,
        mean_value=mean_value, variance=squared_total / n_cells - mean_value ** 2,
        # the first layer scales the singular vectors by the square root of the number of
        # nodes it is built for: this shard's rows, where the vectors are the whole
        # matrix's, so they carry the missing factor
        row_singular=u * np.sqrt(n_rows / max(n_local, 1)), column_singular=v,
        csr=csr, skip_first_direction=True,
        reducers=(reducer, Reducer(share=1.0 / reducer.world_size)))
