"""The k-means start of a row-sharded fit (``_start.kmeans``, with sums over shards).

The row means (M x D floats: small next to the matrix) are gathered on every process,
where the same k-means draws as in one process are made; the pair of draws kept is the
one that best predicts held-out cells, scored by ``_refine.held_out.held_out_score`` with
every sum over rows summed over the shards.
"""

import numpy as np

from .._likelihoods import as_likelihood
from .._refine.held_out import held_out_cells, held_out_score
from .._refine.sharding import Sharding
from .._start.choice import choose_pair_by
from .._start.kmeans import N_KMEANS_DRAWS, _one_hot, kmeans_draws


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
    offset, sharding = reducer.offset(csr.shape[0]), Sharding.of_rows(reducer)
    held_out = held_out_cells(csr, sharding=sharding)

    def score(row_labels, column_labels):
        """The held-out score of a pair of whole-matrix partitions."""
        return held_out_score(csr, likelihood, row_labels[offset:offset + csr.shape[0]],
                              column_labels, held_out, sharding)

    row_draws = kmeans_draws(reducer.gather(row_mean), config.n_row_clusters, seed,
                             N_KMEANS_DRAWS)
    column_draws = kmeans_draws(column_mean, config.n_column_clusters, seed, N_KMEANS_DRAWS)
    row_start, column_start = choose_pair_by(score, row_draws, column_draws)
    row_labels = reducer.broadcast(row_start.labels.astype(np.int64))
    column_labels = reducer.broadcast(column_start.labels.astype(np.int64))
    return (_one_hot(row_labels[offset:offset + csr.shape[0]], config.n_row_clusters, row_mean),
            _one_hot(column_labels, config.n_column_clusters, column_mean))
