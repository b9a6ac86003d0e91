"""Input checks, sparse conversion and degree normalisation of the data matrix.

Everything here is numpy / scipy: the torch side receives matrices that are already
validated, in CSR form, with their degree normalisation computed once.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from .._likelihoods import make_likelihood

def as_csr(X):
    """Return ``X`` (dense or any scipy.sparse format) as a float64 CSR matrix.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_rows, n_cols)
        An already validated (finite, numeric, two-dimensional) matrix.

    Returns
    -------
    csr : scipy.sparse.csr_matrix of shape (n_rows, n_cols)
        Explicit zeros removed and indices sorted, so that ``nnz`` counts real nonzeros.
    """
    csr = sp.csr_matrix(X, dtype=np.float64, copy=True)
    csr.eliminate_zeros()
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


def check_values_for_likelihood(csr, likelihood, *, allow_empty=False,
                                estimator_name="the estimator"):
    """Raise a ValueError that names the problem when values do not suit the likelihood.

    Parameters
    ----------
    csr : scipy.sparse.csr_matrix
        The data matrix; only its stored values are inspected.
    likelihood : {'bernoulli', 'poisson', 'gaussian'}
    allow_empty : bool
        Whether a matrix without any nonzero is acceptable (new rows to predict: yes; a
        matrix to fit: no).
    estimator_name : str
        Used in the message.
    """
    values = csr.data
    if not np.all(np.isfinite(values)):
        raise ValueError("Input X contains NaN or infinity.")
    low = values.min() if values.size else 0.0
    high = values.max() if values.size else 0.0
    make_likelihood(likelihood).check_values(low, high, estimator_name)
    if csr.nnz == 0 and not allow_empty:
        raise ValueError(
            f"X has no nonzero entry: there is no structure for {estimator_name} to co-cluster.")


def check_n_clusters(n_clusters):
    """Parse ``n_clusters`` into ``(n_row_clusters, n_column_clusters, paired)``.

    Parameters
    ----------
    n_clusters : int or tuple of two ints
        ``k`` for k row and k column clusters paired into k biclusters (as
        :class:`sklearn.cluster.SpectralCoclustering`), or ``(L, Q)`` for an L x Q
        checkerboard (as :class:`sklearn.cluster.SpectralBiclustering`).

    Returns
    -------
    n_row_clusters, n_column_clusters : int
    paired : bool
        True when ``n_clusters`` was a single int.
    """
    def _is_count(value):
        """Whether ``value`` is a positive int (not a bool)."""
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1

    if _is_count(n_clusters):
        return int(n_clusters), int(n_clusters), True
    try:
        n_row_clusters, n_column_clusters = n_clusters
    except (TypeError, ValueError):
        n_row_clusters = n_column_clusters = None
    if _is_count(n_row_clusters) and _is_count(n_column_clusters):
        return int(n_row_clusters), int(n_column_clusters), False
    raise ValueError(
        "n_clusters must be a positive int or a pair of positive ints (n_row_clusters, "
        f"n_column_clusters); got {n_clusters!r}."
    )


def check_cluster_counts(shape, n_row_clusters, n_column_clusters):
    """Raise a ValueError when the matrix has fewer rows or columns than clusters asked for."""
    n_rows, n_cols = shape
    if n_row_clusters > n_rows:
        raise ValueError(
            f"n_clusters asks for {n_row_clusters} row clusters but X has only {n_rows} rows."
        )
    if n_column_clusters > n_cols:
        raise ValueError(
            f"n_clusters asks for {n_column_clusters} column clusters but X has only "
            f"{n_cols} columns."
        )


def inverse_sqrt_degrees(csr):
    """Return the inverse square roots of the row and column degrees of ``csr``.

    A row or column of degree 0 gets 0 (its row of the normalised matrix stays zero),
    never inf or NaN.

    Returns
    -------
    row_scale : ndarray of shape (n_rows,)
    column_scale : ndarray of shape (n_cols,)
    """
    row_degree = np.asarray(csr.sum(axis=1)).ravel()
    column_degree = np.asarray(csr.sum(axis=0)).ravel()
    return _safe_inverse_sqrt(row_degree), _safe_inverse_sqrt(column_degree)


def _safe_inverse_sqrt(degree):
    """``1 / sqrt(degree)``, 0 where the degree is 0."""
    scale = np.zeros_like(degree, dtype=np.float64)
    positive = degree > 0
    scale[positive] = 1.0 / np.sqrt(degree[positive])
    return scale


def normalise_adjacency(csr, row_scale, column_scale):
    """Return ``D1^{-1/2} A D2^{-1/2}`` as CSR, given the inverse square-root degrees."""
    return sp.csr_matrix(sp.diags(row_scale) @ csr @ sp.diags(column_scale))


class EncoderInput:
    """How the matrix is normalised before the encoders, for training and for new nodes.

    ``'degrees'``: ``D1^{-1/2} A D2^{-1/2}`` (``docs/model.rst``, "Encoders"), the
    normalisation of non-negative data; its leading singular vector is the square-root
    degrees. ``'centred'``: ``(A - m) / s`` with ``m`` the mean entry and
    ``s = std * (sqrt(M) + sqrt(P))`` (about the top singular value of a noise matrix), for
    real values on a dense layout: there row and column sums can be near zero or negative
    and say nothing, and the block means are what the singular vectors must carry (on
    planted Gaussian blocks, degree normalisation hides them from the leading singular
    vectors; measured: benchmarks/README.md).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
        The training matrix.
    centre : bool
        ``'centred'`` if True, else ``'degrees'``.
    """

    def __init__(self, csr, centre):
        self.kind = "centred" if centre else "degrees"
        if centre:
            n_rows, n_cols = csr.shape
            values = csr.toarray()
            self.mean = float(values.mean())
            spread = float(values.std()) * (np.sqrt(n_rows) + np.sqrt(n_cols))
            self.scale = spread if spread > 0 else 1.0
        else:
            self.row_scale, self.column_scale = inverse_sqrt_degrees(csr)

    @property
    def skips_first_direction(self):
        """Whether the leading singular direction is the degrees' (no cluster information)."""
        return self.kind == "degrees"

    def training(self, csr):
        """The normalised training matrix: CSR (degrees) or a dense ndarray (centred)."""
        if self.kind == "centred":
            return (csr.toarray() - self.mean) / self.scale
        return normalise_adjacency(csr, self.row_scale, self.column_scale)

    def new_nodes(self, csr, side):
        """Normalised cells of new rows (``side='row'``, csr of shape (n, P)) or new
        columns (``side='column'``, csr of shape (n, M), i.e. transposed)."""
        if self.kind == "centred":
            return (csr.toarray() - self.mean) / self.scale
        other_scale = self.column_scale if side == "row" else self.row_scale
        own_scale, _ = inverse_sqrt_degrees(csr)
        return sp.csr_matrix(sp.diags(own_scale) @ csr @ sp.diags(other_scale))

