"""Held-out cells and the scores of a partition on them.

A fixed random sample of cells is held out from the estimation of a partition's block
parameters; how well the partition then predicts those cells is the criterion of both the
start choice and the final choice. The cells of a row cluster and a column cluster are
exchangeable under the block model; a one-sided model (each column its own profile over the
row clusters, or each row over the column clusters) tells whether the matrix bears that out.

On a row shard (a :class:`~skcocluster._refine.sharding.Sharding`), every process draws the
same sample of the whole matrix and keeps the cells of its rows; the scores are sums over
the processes' cells, equal to the scores of the whole matrix. The mean log-likelihood of
the Bernoulli and Poisson likelihoods is a mean of per-cell terms, which those sums need
(the sharded fit has no Gaussian likelihood).
"""

import numpy as np
import scipy.sparse as sp

from .._likelihoods import EPS, as_likelihood
from .sharding import WHOLE

# Cells held out to score the candidates, and the seed that draws them (fixed, so that
# the score is a deterministic function of the partition).
N_HELD_OUT_CELLS = 200_000
HELD_OUT_SEED = 0

def held_out_cells(csr, n_cells=N_HELD_OUT_CELLS, seed=HELD_OUT_SEED, sharding=WHOLE):
    """A fixed random set of distinct cells and their values.

    On a shard, the cells of the same sample of the whole matrix that lie in the shard.

    Returns
    -------
    rows, cols : ndarray of int
        Indices in ``csr``.
    values : ndarray of float
    """
    (n_local_rows, n_local_cols), n_cols = csr.shape, sharding.columns.count(csr.shape[1])
    total = sharding.rows.count(n_local_rows) * n_cols
    rng = np.random.default_rng(seed)
    flat = np.unique(rng.integers(total, size=min(n_cells, max(total // 5, 1))))
    rows, cols = np.divmod(flat, n_cols)
    rows = rows - sharding.rows.offset(n_local_rows)
    cols = cols - sharding.columns.offset(n_local_cols)
    mine = (rows >= 0) & (rows < n_local_rows) & (cols >= 0) & (cols < n_local_cols)
    rows, cols = rows[mine], cols[mine]
    return rows, cols, np.asarray(csr[rows, cols]).ravel()


def mean_log_likelihood(likelihood, values, expected, reducer):
    """The mean log-likelihood of every process's held-out cells (see the module docstring).

    Parameters
    ----------
    likelihood : Likelihood
    values, expected : ndarray
        This process's cells.
    reducer : Reducer
        Sums over the processes' cells.

    Returns
    -------
    mean : float
    """
    if reducer.world_size == 1:
        return likelihood.mean_log_likelihood(values, expected)
    local = likelihood.mean_log_likelihood(values, expected) * len(values) if len(
        values) else 0.0
    total, count = reducer.sum_array([local, len(values)])
    return float(total / max(count, 1.0))


def held_out_score(csr, likelihood, row_labels, column_labels, held_out, sharding=WHOLE):
    """Mean log-likelihood of the held-out cells under the block models of a partition:
    the better of the plain and degree-corrected block models (:func:`held_out_scores`).
    """
    return max(held_out_scores(csr, likelihood, row_labels, column_labels, held_out,
                               sharding))


def n_clusters_of(labels, reducer):
    """The number of clusters of a side's labels: the largest label over the processes + 1."""
    return int(reducer.maximum(labels.max(initial=0))) + 1


def held_out_totals(csr, held_out, sharding):
    """Every local row's and column's total over the cells that are not held out.

    Returns
    -------
    row_totals, column_totals : ndarray
    """
    rows, cols, values = held_out
    n_rows, n_cols = csr.shape
    return (sharding.columns.sum_array(np.asarray(csr.sum(axis=1)).ravel()
                                       - np.bincount(rows, values, minlength=n_rows)),
            sharding.rows.sum_array(np.asarray(csr.sum(axis=0)).ravel()
                                    - np.bincount(cols, values, minlength=n_cols)))


def held_out_scores(csr, likelihood, row_labels, column_labels, held_out, sharding=WHOLE):
    """Mean log-likelihood of the held-out cells under each block model of a partition.

    Block parameters (and, for the degree-corrected model, row and column totals) are
    estimated from the other cells. On a shard, ``row_labels`` and the held-out cells
    are this process's; the scores are the whole matrix's.

    Returns
    -------
    scores : list of float
        The plain block model's, then (non-negative data only) the degree-corrected one's.
    """
    likelihood = as_likelihood(likelihood)
    rows, cols, values = held_out
    block_shape = (n_clusters_of(row_labels, sharding.rows),
                   n_clusters_of(column_labels, sharding.columns))
    row_one_hot = np.eye(block_shape[0])[row_labels]
    column_one_hot = np.eye(block_shape[1])[column_labels]
    r, c = row_labels[rows], column_labels[cols]
    held = np.zeros((2,) + block_shape)
    np.add.at(held[0], (r, c), values)
    np.add.at(held[1], (r, c), 1.0)
    held = sharding.cells.sum_array(held)
    sums = sharding.block_sums(csr, row_one_hot, column_one_hot) - held[0]
    counts = np.outer(*sharding.sizes(row_one_hot, column_one_hot)) - held[1]
    block = sums / np.maximum(counts, EPS)
    scores = [mean_log_likelihood(likelihood, values, block[r, c], sharding.cells)]
    if likelihood.non_negative:
        row_totals, column_totals = held_out_totals(csr, held_out, sharding)
        omega = sums / np.maximum(np.outer(
            sharding.rows.sum_array(row_one_hot.T @ row_totals),
            sharding.columns.sum_array(column_one_hot.T @ column_totals)), EPS)
        expected = row_totals[rows] * column_totals[cols] * omega[r, c]
        scores.append(mean_log_likelihood(likelihood, values, expected, sharding.cells))
    return scores


def one_sided_score(csr, likelihood, labels, held_out, sharding=WHOLE):
    """Mean log-likelihood of the held-out cells when only the rows are clustered.

    Each row cluster k gets its own expected value for every column j, estimated from the
    other cells of the cluster's rows: the plain model predicts their mean, the
    degree-corrected one (non-negative data) the row's total times the cluster's share of
    column j. Both are smoothed by one pseudo-row of the column's overall mean, so that a
    column unseen in a cluster keeps a finite prediction. Returns the better of the two
    (the plain one only, for Gaussian data). Score the columns with ``csr.T`` and the
    held-out cells' rows and columns swapped.

    Only the held-out cells' (cluster, column) pairs are looked up: no dense
    (n_clusters, n_columns) array is built. On a row shard, a cluster's rows (and its
    held-out cells) lie on several processes: the pairs of every process's held-out cells
    are gathered (at most the sample's size) and the clusters' sums at those pairs summed.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    labels : ndarray of int, shape (M,)
    held_out : tuple of ndarray
        Rows, columns and values of the held-out cells (:func:`held_out_cells`).
    sharding : Sharding, optional
        Where the sums run; on a shard, ``labels`` and ``held_out`` are this process's.

    Returns
    -------
    score : float
    """
    likelihood = as_likelihood(likelihood)
    rows, cols, values = held_out
    (n_local_rows, n_cols), side = csr.shape, sharding.rows
    n_rows, n_clusters = side.count(n_local_rows), n_clusters_of(labels, side)
    cluster_of = sp.csr_matrix((np.ones(n_local_rows), (labels, np.arange(n_local_rows))),
                               shape=(n_clusters, n_local_rows))
    held_clusters = labels[rows]
    # Sums and counts of the cluster's other cells in the held-out cells' columns.
    keys = held_clusters.astype(np.int64) * n_cols + cols
    pairs = np.unique(side.gather_array(keys))
    pair_index = np.searchsorted(pairs, keys)
    pair_sums, held_sums, held_counts = side.sum_array(np.stack([
        _values_at(cluster_of @ csr, *np.divmod(pairs, n_cols)),
        np.bincount(pair_index, values, minlength=pairs.size),
        np.bincount(pair_index, minlength=pairs.size)]))[:, pair_index]
    sums = pair_sums - held_sums
    counts = side.sum_array(np.bincount(labels, minlength=n_clusters))[held_clusters] - (
        held_counts)
    row_totals, column_sums = held_out_totals(csr, held_out, sharding)
    column_counts = n_rows - side.sum_array(np.bincount(cols, minlength=n_cols))
    column_means = column_sums / np.maximum(column_counts, 1)
    plain = (sums + column_means[cols]) / (counts + 1.0)
    scores = [mean_log_likelihood(likelihood, values, plain, sharding.cells)]
    if likelihood.non_negative:
        cluster_totals = side.sum_array(np.bincount(labels, row_totals, minlength=n_clusters))
        pseudo_row = side.sum_array([row_totals.sum()])[0] / n_rows
        column_total = sharding.columns.sum_array([column_sums.sum()])[0]
        column_shares = column_sums / max(column_total, EPS)
        shares = (sums + pseudo_row * column_shares[cols]) / np.maximum(
            cluster_totals[held_clusters] + pseudo_row, EPS)
        scores.append(mean_log_likelihood(likelihood, values, row_totals[rows] * shares,
                                          sharding.cells))
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
                            block_score=None, sharding=WHOLE):
    """Whether the block model of a partition predicts held-out cells at least as well as
    the one-sided models of its rows and of its columns (module docstring).

    ``block_score``, the partition's :func:`held_out_score` on ``held_out``, is computed
    here unless the caller already has it.
    """
    block = block_score
    if block is None:
        block = held_out_score(csr, likelihood, row_labels, column_labels, held_out,
                               sharding)
    rows, cols, values = held_out
    csr_t = csr.T.tocsr()
    # the scores are the same on every process, so every process skips the same collectives
    return (block >= one_sided_score(csr, likelihood, row_labels, held_out, sharding)
            and block >= one_sided_score(csr_t, likelihood, column_labels,
                                         (cols, rows, values), sharding.T))
