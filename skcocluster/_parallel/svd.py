"""Leading singular vectors of a matrix whose rows are split across processes.

The randomised range finder of Halko, Martinsson and Tropp (as in scikit-learn's
``randomized_svd``), with every product that contracts the rows summed by the row
reducer: ``A^T Y`` is a sum of the shards' ``A_r^T Y_r``, and the orthonormalisation of
the tall ``Y`` goes through its small Gram matrix (Cholesky-QR, twice for accuracy). Only
matrices of ``n_columns x (k + oversamples)`` floats are exchanged.
"""

import numpy as np

N_OVERSAMPLES = 10


def orthonormal_columns(y, reducer):
    """Orthonormalise the columns of a row-sharded tall matrix (Cholesky-QR, twice).

    Parameters
    ----------
    y : ndarray of shape (n_local_rows, l)
    reducer : Reducer

    Returns
    -------
    q : ndarray of shape (n_local_rows, l)
        The shards of a matrix with orthonormal columns spanning those of ``y``.
    """
    for _ in range(2):
        gram = reducer.sum_array(y.T @ y)
        values, vectors = np.linalg.eigh(gram)
        # a rank-deficient range (a tiny matrix) keeps finite, unscaled directions
        values = np.maximum(values, values.max(initial=0.0) * 1e-12 + 1e-300)
        y = y @ (vectors / np.sqrt(values))
    return y


def sharded_randomized_svd(csr, n_components, reducer, seed):
    """Leading singular vectors of the matrix whose row shard is ``csr``.

    Parameters
    ----------
    csr : csr_matrix of shape (n_local_rows, n_columns)
        This process's rows.
    n_components : int
    reducer : Reducer
        Sums over the row shards.
    seed : int
        Seeds the random test matrix (the same on every process).

    Returns
    -------
    u : ndarray of shape (n_local_rows, n_components)
        This process's rows of the left singular vectors.
    v : ndarray of shape (n_columns, n_components)
        The right singular vectors; each is signed so that its largest entry in
        absolute value is positive.
    """
    n_columns = csr.shape[1]
    width = n_components + N_OVERSAMPLES
    # scikit-learn's rule for the number of power iterations
    n_rows = reducer.count(csr.shape[0])
    n_iter = 7 if n_components < 0.1 * min(n_rows, n_columns) else 4
    omega = np.random.default_rng(seed).standard_normal((n_columns, width))
    y = csr @ omega
    for _ in range(n_iter):
        y = orthonormal_columns(y, reducer)
        z, _ = np.linalg.qr(reducer.sum_array(csr.T @ y))
        y = csr @ z
    q = orthonormal_columns(y, reducer)
    small = reducer.sum_array(np.asarray(csr.T @ q).T)  # (width, n_columns) = Q^T A
    u_small, _, vt = np.linalg.svd(small, full_matrices=False)
    u, v = q @ u_small[:, :n_components], vt[:n_components].T
    signs = np.sign(v[np.abs(v).argmax(0), np.arange(n_components)])
    signs[signs == 0] = 1.0
    return u * signs, v * signs
