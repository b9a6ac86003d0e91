"""Held-out cells and the scores of a partition on them.

A fixed random sample of cells is held out from the estimation of a partition's block
parameters; how well the partition then predicts those cells is the criterion of both the
start choice and the final choice. The cells of a row cluster and a column cluster are
exchangeable under the block model; a one-sided model (each column its own profile over the
row clusters, or each row over the column clusters) tells whether the matrix bears that out.
"""

import numpy as np
import scipy.sparse as sp

from .._likelihoods import EPS, as_likelihood

# Cells held out to score the candidates, and the seed that draws them (fixed, so that
# the score is a deterministic function of the partition).
N_HELD_OUT_CELLS = 200_000
HELD_OUT_SEED = 0

def held_out_cells(csr, n_cells=N_HELD_OUT_CELLS, seed=HELD_OUT_SEED):
    """A fixed random set of distinct cells and their values.

    Returns
    -------
    rows, cols : ndarray of int
    values : ndarray of float
    """
    n_rows, n_cols = csr.shape
    total = n_rows * n_cols
    rng = np.random.default_rng(seed)
    flat = np.unique(rng.integers(total, size=min(n_cells, max(total // 5, 1))))
    rows, cols = np.divmod(flat, n_cols)
    values = np.asarray(csr[rows, cols]).ravel()
    return rows, cols, values


def held_out_score(csr, likelihood, row_labels, column_labels, held_out):
    """Mean log-likelihood of the held-out cells under the block models of a partition:
    the better of the plain and degree-corrected block models (:func:`held_out_scores`).
    """
    return max(held_out_scores(csr, likelihood, row_labels, column_labels, held_out))


def held_out_scores(csr, likelihood, row_labels, column_labels, held_out):
    """Mean log-likelihood of the held-out cells under each block model of a partition.

    Block parameters (and, for the degree-corrected model, row and column totals) are
    estimated from the other cells.

    Returns
    -------
    scores : list of float
        The plain block model's, then (non-negative data only) the degree-corrected one's.
    """
    likelihood = as_likelihood(likelihood)
    rows, cols, values = held_out
    n_row_clusters, n_column_clusters = row_labels.max() + 1, column_labels.max() + 1
    row_one_hot = np.eye(n_row_clusters)[row_labels]
    column_one_hot = np.eye(n_column_clusters)[column_labels]
    r, c = row_labels[rows], column_labels[cols]
    block_shape = (n_row_clusters, n_column_clusters)
    held_sums = np.zeros(block_shape)
    np.add.at(held_sums, (r, c), values)
    held_counts = np.zeros(block_shape)
    np.add.at(held_counts, (r, c), 1.0)
    sums = row_one_hot.T @ (csr @ column_one_hot) - held_sums
    counts = np.outer(row_one_hot.sum(0), column_one_hot.sum(0)) - held_counts
    block = sums / np.maximum(counts, EPS)
    scores = [likelihood.mean_log_likelihood(values, block[r, c])]
    if likelihood.non_negative:
        row_totals = np.asarray(csr.sum(axis=1)).ravel() - np.bincount(
            rows, values, minlength=csr.shape[0])
        column_totals = np.asarray(csr.sum(axis=0)).ravel() - np.bincount(
            cols, values, minlength=csr.shape[1])
        omega = sums / np.maximum(np.outer(row_one_hot.T @ row_totals,
                                           column_one_hot.T @ column_totals), EPS)
        expected = row_totals[rows] * column_totals[cols] * omega[r, c]
        scores.append(likelihood.mean_log_likelihood(values, expected))
    return scores


def one_sided_score(csr, likelihood, labels, held_out):
    """Mean log-likelihood of the held-out cells when only the rows are clustered.

    Each row cluster k gets its own expected value for every column j, estimated from the
    other cells of the cluster's rows: the plain model predicts their mean, the
    degree-corrected one (non-negative data) the row's total times the cluster's share of
    column j. Both are smoothed by one pseudo-row of the column's overall mean, so that a
    column unseen in a cluster keeps a finite prediction. Returns the better of the two
    (the plain one only, for Gaussian data). Score the columns with ``csr.T`` and the
    held-out cells' rows and columns swapped.

    Only the held-out cells' (cluster, column) pairs are looked up: no dense
    (n_clusters, n_columns) array is built.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    labels : ndarray of int, shape (M,)
    held_out : tuple of ndarray
        Rows, columns and values of the held-out cells (:func:`held_out_cells`).

    Returns
    -------
    score : float
    """
    likelihood = as_likelihood(likelihood)
    rows, cols, values = held_out
    n_rows, n_cols = csr.shape
    n_clusters = int(labels.max()) + 1
    cluster_of = sp.csr_matrix((np.ones(n_rows), (labels, np.arange(n_rows))),
                               shape=(n_clusters, n_rows))
    cluster_sums = cluster_of @ csr
    held_clusters = labels[rows]
    # Sums and counts of the cluster's other cells in the held-out cells' columns.
    _, pair_index = np.unique(held_clusters.astype(np.int64) * n_cols + cols,
                              return_inverse=True)
    held_sums = np.bincount(pair_index, values)[pair_index]
    held_counts = np.bincount(pair_index)[pair_index]
    sums = _values_at(cluster_sums, held_clusters, cols) - held_sums
    counts = np.bincount(labels, minlength=n_clusters)[held_clusters] - held_counts
    column_sums = np.asarray(csr.sum(axis=0)).ravel() - np.bincount(cols, values,
                                                                      minlength=n_cols)
    column_counts = n_rows - np.bincount(cols, minlength=n_cols)
    column_means = column_sums / np.maximum(column_counts, 1)
    plain = (sums + column_means[cols]) / (counts + 1.0)
    scores = [likelihood.mean_log_likelihood(values, plain)]
    if likelihood.non_negative:
        row_totals = np.asarray(csr.sum(axis=1)).ravel() - np.bincount(
            rows, values, minlength=n_rows)
        cluster_totals = np.bincount(labels, row_totals, minlength=n_clusters)
        pseudo_row = row_totals.mean()
        column_shares = column_sums / max(column_sums.sum(), EPS)
        shares = (sums + pseudo_row * column_shares[cols]) / np.maximum(
            cluster_totals[held_clusters] + pseudo_row, EPS)
        scores.append(likelihood.mean_log_likelihood(values, row_totals[rows] * shares))
    return max(scores)


def _values_at(matrix, rows, cols):
    """``matrix[rows, cols]`` of a sparse matrix, by binary search in its sorted entries.

    scipy's own point indexing scans each row's entries, which takes seconds for a few
    long rows (the clusters' sums) and hundreds of thousands of points.
    """
    matrix = sp.csr_matrix(matrix)
    matrix.sum_duplicates()
    n_cols = np.int64(matrix.shape[1])
    stored_rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64),
                            np.diff(matrix.indptr))
    keys = stored_rows * n_cols + matrix.indices
    wanted = rows.astype(np.int64) * n_cols + cols
    if keys.size == 0:
        return np.zeros(wanted.size)
    where = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    return np.where(keys[where] == wanted, matrix.data[where], 0.0)


def block_model_is_adequate(csr, likelihood, row_labels, column_labels, held_out,
                            block_score=None):
    """Whether the block model of a partition predicts held-out cells at least as well as
    the one-sided models of its rows and of its columns (module docstring).

    ``block_score``, the partition's :func:`held_out_score` on ``held_out``, is computed
    here unless the caller already has it.
    """
    block = block_score
    if block is None:
        block = held_out_score(csr, likelihood, row_labels, column_labels, held_out)
    rows, cols, values = held_out
    csr_t = csr.T.tocsr()
    return (block >= one_sided_score(csr, likelihood, row_labels, held_out)
            and block >= one_sided_score(csr_t, likelihood, column_labels,
                                         (cols, rows, values)))
