"""Where the refinement's sums run when the rows are split across processes.

Every statistic of the refinement stage is a sum: over rows (cluster sizes, degree
masses, a column's sums over the row clusters), over columns, or over cells (block sums
``R^T A C``, held-out log-likelihoods). A :class:`Sharding` holds one reducer per side
(:mod:`~skcocluster._parallel.reducer`) and one for the cells; each function of the stage
calls the reducer of whatever it sums over, so the same code serves the whole matrix
(every reducer the identity, :data:`WHOLE`) and a row shard (:meth:`Sharding.of_rows`:
rows and cells all-reduced, columns held whole by every process).
"""

from dataclasses import dataclass

import numpy as np

from .._parallel.reducer import IDENTITY, Reducer


@dataclass(frozen=True)
class Sharding:
    """The reducers of the sums over rows, over columns and over cells.

    At most one side is split across processes; the cells are split with it.

    Attributes
    ----------
    rows, columns, cells : Reducer
    """

    rows: Reducer = IDENTITY
    columns: Reducer = IDENTITY
    cells: Reducer = IDENTITY

    @classmethod
    def of_rows(cls, reducer):
        """The rows (and so the cells) split by ``reducer``, the columns held whole.

        Parameters
        ----------
        reducer : Reducer

        Returns
        -------
        sharding : Sharding
        """
        return cls(rows=reducer, columns=IDENTITY, cells=reducer)

    @property
    def T(self):
        """The sharding of the transposed matrix."""
        return Sharding(rows=self.columns, columns=self.rows, cells=self.cells)

    def block_sums(self, csr, row_resp, column_resp, product=None):
        """``R^T A C``: the sum of the cells of each block under soft memberships.

        Parameters
        ----------
        csr : sparse matrix of shape (M, P)
        row_resp : ndarray of shape (M, L)
        column_resp : ndarray of shape (P, Q)
        product : ndarray of shape (M, Q), optional
            ``csr @ column_resp`` where the caller has it (of this process's part of
            ``csr``, before the sum across processes).

        Returns
        -------
        sums : ndarray of shape (L, Q)
        """
        if product is None:
            product = csr @ column_resp
        return self.cells.sum_array(row_resp.T @ product)

    def sizes(self, row_resp, column_resp):
        """The clusters' sizes of each side (sums of the memberships).

        Returns
        -------
        row_sizes, column_sizes : ndarray of shape (L,) and (Q,)
        """
        return (self.rows.sum_array(row_resp.sum(0)),
                self.columns.sum_array(column_resp.sum(0)))

    def degrees(self, csr):
        """Every local row's and column's sum of cells.

        Returns
        -------
        row_degrees, column_degrees : ndarray
        """
        return (self.columns.sum_array(np.asarray(csr.sum(axis=1)).ravel()),
                self.rows.sum_array(np.asarray(csr.sum(axis=0)).ravel()))

    def n_cells(self, csr):
        """The number of cells of the whole matrix."""
        return self.rows.count(csr.shape[0]) * self.columns.count(csr.shape[1])


#: The whole matrix in one process.
WHOLE = Sharding()
