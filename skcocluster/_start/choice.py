"""The choice of a starting pair of row and column partitions by held-out prediction."""

from dataclasses import dataclass

import numpy as np

from .._likelihoods import as_likelihood
from .._refine.held_out import held_out_cells, held_out_score


@dataclass
class StartDraw:
    """One clustering of one side's initial positions, a candidate start.

    Attributes
    ----------
    labels : ndarray of int, shape (n,)
    n_clusters : int
        Clusters asked for (a draw that leaves one empty ranks last).
    bound : float
        The draw's own criterion, higher is better (minus the k-means inertia, the
        mixture's lower bound): it only picks the first column draw.
    """

    labels: np.ndarray
    n_clusters: int
    bound: float


# Rounds of the alternating choice of a starting pair: the rows given the columns, then
# the columns given the rows.
START_CHOICE_ROUNDS = 2


def choose_start_pair(csr, likelihood, row_starts, column_starts):
    """The row and column starts whose partitions best predict held-out cells.

    Both estimators start from clusterings of their initial positions (k-means draws for
    the deep LBM, Gaussian mixtures for VariationalCoclustering). Several draws are made
    per side; their own criteria (inertia, mixture bound) can prefer a balanced cut of
    imbalanced clusters, while the block model's held-out likelihood, the criterion of
    :func:`select`, prefers the planted partition whenever a draw lands near it
    (``benchmarks/README.md``, "What changed the start").

    Starts from the column draw of best own criterion, then alternates: the best rows
    given the columns, the best columns given the rows (``START_CHOICE_ROUNDS`` times).
    Draws that fill every cluster come first.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    row_starts, column_starts : list of StartDraw

    Returns
    -------
    row_start, column_start
        One element of each list.
    """
    likelihood = as_likelihood(likelihood)
    if len(row_starts) == 1 and len(column_starts) == 1:
        return row_starts[0], column_starts[0]
    held_out = held_out_cells(csr)
    return choose_pair_by(
        lambda row_labels, column_labels: held_out_score(csr, likelihood, row_labels,
                                                         column_labels, held_out),
        row_starts, column_starts)


def choose_pair_by(score, row_starts, column_starts):
    """The row and column starts that maximise ``score`` (:func:`choose_start_pair`).

    Parameters
    ----------
    score : callable
        ``score(row_labels, column_labels) -> float``, higher is better.
    row_starts, column_starts : list of StartDraw

    Returns
    -------
    row_start, column_start
        One element of each list.
    """
    def filled(start):
        """Whether the draw fills every cluster it asked for."""
        return np.unique(start.labels).size == start.n_clusters

    def rank(row_start, column_start):
        """Filled first, then the held-out score of the pair's partitions."""
        return (filled(row_start) and filled(column_start),
                score(row_start.labels, column_start.labels))

    column_start = max(column_starts, key=lambda start: (filled(start), start.bound))
    for _ in range(START_CHOICE_ROUNDS):
        row_start = max(row_starts, key=lambda start: rank(start, column_start))
        column_start = max(column_starts, key=lambda start: rank(row_start, start))
    return row_start, column_start
