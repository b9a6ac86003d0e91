"""Whether a reported partition carries structure: the checks behind the warning of a fit
that found nothing (``docs/model.rst``, "When a fit finds nothing").

A fit can end on a partition that explains nothing, and such a partition looks like any
other result. What gives it away: it predicts cells held out from the estimation of its
block parameters no better than one cluster per side, or than random partitions of its
cluster sizes, do (the final choice's criterion,
:func:`~skcocluster._refine.held_out.held_out_score`, on another sample of cells than the
final choice's, which picked the partition on its own). A random partition predicts about
as well as one cluster: its gains measure how much the criterion moves by chance, and the
partition must beat their mean by three standard deviations.

The share of the largest cluster is no such sign: the words of a corpus legitimately fall
into one large cluster of common vocabulary and a few small topical ones (on the counts of
the reviews corpus, 95% of the words in one cluster, with the best document partition of
any method: ``benchmarks/README.md``).
"""

import numpy as np

from .held_out import held_out_cells, held_out_score

# Seed of the check's held-out cells: not the final choice's (held_out.HELD_OUT_SEED).
CHECK_SEED = 1
# Random partitions of the reported cluster sizes that the reported partition must beat.
N_RANDOM_PARTITIONS = 10
# Standard deviations of the random partitions' gains that the partition must beat.
CHANCE_DEVIATIONS = 3.0


def held_out_gains(csr, likelihood, partitions, seed=CHECK_SEED):
    """Held-out score of each partition minus that of one cluster per side (per cell).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    partitions : list of (ndarray of int, ndarray of int)
        Row and column labels of each partition.
    seed : int, default=1
        Draws the held-out cells.

    Returns
    -------
    gains : ndarray of shape (len(partitions),)
        Positive where a partition predicts the held-out cells better.
    """
    held_out = held_out_cells(csr, seed=seed)
    rows, columns = partitions[0]
    one = held_out_score(csr, likelihood, np.zeros_like(rows), np.zeros_like(columns),
                         held_out)
    return np.array([held_out_score(csr, likelihood, rows, columns, held_out) - one
                     for rows, columns in partitions])


def random_partitions(row_labels, column_labels, n_partitions=N_RANDOM_PARTITIONS,
                      seed=CHECK_SEED):
    """Random partitions with the cluster sizes of the given one."""
    rng = np.random.default_rng(seed)
    return [(rng.permutation(row_labels), rng.permutation(column_labels))
            for _ in range(n_partitions)]


def finds_nothing(csr, likelihood, row_labels, column_labels):
    """Why the partition carries no structure, or None where it does.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    row_labels, column_labels : ndarray of int
        The reported partition, with more than one cluster on at least one side.

    Returns
    -------
    reason : str or None
    """
    gains = held_out_gains(csr, likelihood, [(row_labels, column_labels)]
                           + random_partitions(row_labels, column_labels))
    chance = max(gains[1:].mean() + CHANCE_DEVIATIONS * gains[1:].std(ddof=1), 0.0)
    if gains[0] <= chance:
        return (f"it predicts held-out cells no better than one cluster per side or a "
                f"random partition of the same sizes (a gain of {gains[0]:.2e} nats per "
                f"cell over one cluster, against {chance:.2e} by chance)")
    return None
