"""The k-means start of a row-sharded fit (``_start.kmeans``, with sums over shards).

The row means (M x D floats: small next to the matrix) are gathered on every process,
where the same k-means draws as in one process are made; the pair of draws kept is the
one that best predicts held-out cells, scored as ``_refine.held_out.held_out_score``
scores it but with every sum over rows summed over the shards.
"""

import numpy as np

from .._likelihoods import EPS, as_likelihood
from .._refine.held_out import HELD_OUT_SEED, N_HELD_OUT_CELLS
from .._start.choice import choose_pair_by
from .._start.kmeans import N_KMEANS_DRAWS, _one_hot, kmeans_draws


def shard_offset(reducer, n_local):
    """The index of this process's first row in the whole matrix.

    Parameters
    ----------
    reducer : Reducer
    n_local : int

    Returns
    -------
    offset : int
    """
    return int(sum(reducer.all_counts(n_local)[:reducer.rank]))


def shard_held_out_cells(csr, reducer, n_cells=N_HELD_OUT_CELLS, seed=HELD_OUT_SEED):
    """This shard's cells of the held-out sample of ``_refine.held_out.held_out_cells``.

    Every process draws the same sample of the whole matrix and keeps its rows.

    Parameters
    ----------
    csr : csr_matrix of shape (n_local_rows, P)
    reducer : Reducer

    Returns
    -------
    rows, cols : ndarray of int
        Rows local to the shard.
    values : ndarray of float
    """
    n_local, n_cols = csr.shape
    offset = shard_offset(reducer, n_local)
    total = reducer.count(n_local) * n_cols
    rng = np.random.default_rng(seed)
    flat = np.unique(rng.integers(total, size=min(n_cells, max(total // 5, 1))))
    rows, cols = np.divmod(flat, n_cols)
    mine = (rows >= offset) & (rows < offset + n_local)
    rows, cols = rows[mine] - offset, cols[mine]
    return rows, cols, np.asarray(csr[rows, cols]).ravel()


def _mean_over_shards(reducer, likelihood, values, expected):
    """The mean log-likelihood of every shard's held-out cells."""
    local = likelihood.mean_log_likelihood(values, expected) * len(values) if len(values) else 0.0
    total, count = reducer.sum_array([local, len(values)])
    return total / max(count, 1.0)


def shard_held_out_score(csr, reducer, likelihood, row_labels, column_labels, held_out,
                         n_row_clusters):
    """``held_out_score`` of a partition, from the shards' sums.

    Parameters
    ----------
    csr : csr_matrix of shape (n_local_rows, P)
    reducer : Reducer
    likelihood : Likelihood
    row_labels : ndarray of int, shape (n_local_rows,)
    column_labels : ndarray of int, shape (P,)
    held_out : tuple
        :func:`shard_held_out_cells`.
    n_row_clusters : int
        Row clusters of the partition (its largest label + 1 over every shard).

    Returns
    -------
    score : float
    """
    rows, cols, values = held_out
    shape = (n_row_clusters, int(column_labels.max()) + 1)
    row_one_hot = np.eye(shape[0])[row_labels]
    column_one_hot = np.eye(shape[1])[column_labels]
    r, c = row_labels[rows], column_labels[cols]
    held = np.zeros((2,) + shape)
    np.add.at(held[0], (r, c), values)
    np.add.at(held[1], (r, c), 1.0)
    held = reducer.sum_array(held)
    sums = reducer.sum_array(row_one_hot.T @ (csr @ column_one_hot)) - held[0]
    row_sizes = reducer.sum_array(row_one_hot.sum(0))
    counts = np.outer(row_sizes, column_one_hot.sum(0)) - held[1]
    block = sums / np.maximum(counts, EPS)
    scores = [_mean_over_shards(reducer, likelihood, values, block[r, c])]
    if likelihood.non_negative:
        row_totals = np.asarray(csr.sum(axis=1)).ravel() - np.bincount(
            rows, values, minlength=csr.shape[0])
        column_totals = reducer.sum_array(np.asarray(csr.sum(axis=0)).ravel() - np.bincount(
            cols, values, minlength=csr.shape[1]))
        omega = sums / np.maximum(np.outer(reducer.sum_array(row_one_hot.T @ row_totals),
                                           column_one_hot.T @ column_totals), EPS)
        expected = row_totals[rows] * column_totals[cols] * omega[r, c]
        scores.append(_mean_over_shards(reducer, likelihood, values, expected))
    return max(scores)


def shard_kmeans_memberships(model, data, config, posteriors, seed):
    """``_start.kmeans.kmeans_memberships`` on a row shard (a ``memberships`` of
    :func:`~skcocluster._start.kmeans.kmeans_start`).

    Every process makes the same draws on the gathered row means; the pair kept is then
    the same everywhere, and rank 0's is broadcast so that no rounding can split them.

    Parameters
    ----------
    model : DeepLatentBlockModel
        Unused.
    data : TrainingData
        A row shard's (:func:`~skcocluster._parallel.shard_data.prepare_shard`).
    config : TrainingConfig
    posteriors : tuple of Tensor
    seed : int

    Returns
    -------
    row_resp, column_resp : Tensor
        One-hot memberships of this shard's rows and of every column.
    """
    row_mean, _, column_mean, _ = posteriors
    reducer, csr = data.reducers[0], data.csr
    likelihood = as_likelihood(config.likelihood)
    offset = shard_offset(reducer, csr.shape[0])
    held_out = shard_held_out_cells(csr, reducer)

    def score(row_labels, column_labels):
        """The held-out score of a pair of whole-matrix partitions."""
        return shard_held_out_score(csr, reducer, likelihood,
                                    row_labels[offset:offset + csr.shape[0]], column_labels,
                                    held_out, int(row_labels.max()) + 1)

    row_draws = kmeans_draws(reducer.gather(row_mean), config.n_row_clusters, seed,
                             N_KMEANS_DRAWS)
    column_draws = kmeans_draws(column_mean, config.n_column_clusters, seed, N_KMEANS_DRAWS)
    row_start, column_start = choose_pair_by(score, row_draws, column_draws)
    row_labels = reducer.broadcast(row_start.labels.astype(np.int64))
    column_labels = reducer.broadcast(column_start.labels.astype(np.int64))
    return (_one_hot(row_labels[offset:offset + csr.shape[0]], config.n_row_clusters, row_mean),
            _one_hot(column_labels, config.n_column_clusters, column_mean))
