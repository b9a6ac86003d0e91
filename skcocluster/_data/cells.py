"""The data matrix as the likelihood needs it, on the training device."""

from dataclasses import dataclass

import torch


@dataclass
class CellData:
    """The data matrix as the likelihood needs it, on the training device.

    Attributes
    ----------
    matrix : Tensor of shape (M, P)
        The raw matrix A (dense, or sparse CSR).
    matrix_t : Tensor of shape (P, M)
        Its transpose, in the same layout.
    row_sums, column_sums : Tensor of shape (M,) and (P,)
    total : float
        Sum of all entries.
    squared_total : float
        Sum of the squared entries (Gaussian likelihood).
    log_factorial_total : float
        Sum of ``log(A_ij!)`` (Poisson likelihood; ``lgamma(A + 1)`` for non-integers).
    """

    matrix: torch.Tensor
    matrix_t: torch.Tensor
    row_sums: torch.Tensor
    column_sums: torch.Tensor
    total: float
    squared_total: float = 0.0
    log_factorial_total: float = 0.0

    @property
    def n_rows(self):
        """Number of rows M."""
        return self.matrix.shape[0]

    @property
    def n_cols(self):
        """Number of columns P."""
        return self.matrix.shape[1]

    @property
    def n_cells(self):
        """Number of cells M x P (as a Python int)."""
        return self.n_rows * self.n_cols
