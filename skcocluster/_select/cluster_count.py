"""``n_clusters='auto'``: the numbers of row and column clusters of highest ICL.

Each candidate ``(L, Q)`` gets a partition cheaply, from two starts: k-means of the rows
(columns) on a truncated SVD of the matrix, and rows clustered by their profiles over the
spectral column clusters, then columns by theirs over those row clusters. Each start is
refined by the variational EM of the block model the ICL scores, and the hard partition of
higher ICL (:func:`~skcocluster._select.icl.icl_of_memberships`) is kept. The candidates
are visited on a greedy path from ``(1, 1)`` (sparsebm's model selection also grows the
numbers from one cluster, by splits): each step scores ``(L + 1, Q)``, ``(L, Q + 1)`` and
``(L + 1, Q + 1)`` and moves to the best of them (the diagonal step matters: on a diagonal
block matrix ``(2, 1)`` explains nothing that ``(1, 1)`` does not); the path stops
``PATIENCE`` steps after the last improvement; then the neighbours of the best pair are
scored until none is better. For non-negative cells the degree-corrected block model is
searched first, and the plain one only where it predicts held-out cells at least as well
(:func:`_plain_predicts_better`; ``docs/model.rst``, "Choosing the numbers of clusters").
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.extmath import randomized_svd

from .._likelihoods import EPS, as_likelihood
from .._refine.block_em import refine_block_model, refine_degree_corrected
from .._refine.held_out import held_out_cells, held_out_scores
from .._refine.selection import BLOCK_MODEL, DEGREE_CORRECTED_MODEL
from .icl import icl_of_memberships, one_hot

# Most clusters per side the search considers (also bounded by the rows and columns).
MAX_AUTO_CLUSTERS = 30
# Steps of the greedy path after the last improvement of the criterion (a longer path
# reaches some weak pairs but inflates the counts on text; benchmarks/README.md).
PATIENCE = 2
# k-means++ draws per candidate number of clusters (the one of least inertia is kept).
KMEANS_DRAWS = 4
# Rounds of the profile start: rows by their profiles over the column clusters, then the
# columns by theirs over those row clusters.
PROFILE_ROUNDS = 2
# EM iterations that refine each candidate's start, stopped earlier once no membership
# moves by more than EM_TOL (only the hard partition is scored).
EM_ITERATIONS = 50
EM_TOL = 1e-3


@dataclass
class ClusterCountChoice:
    """The chosen numbers of clusters and what the search scored.

    Attributes
    ----------
    n_row_clusters, n_column_clusters : int
    scores : dict of (int, int) to float
        ICL of every ``(L, Q)`` scored, under ``model``.
    model : {'block', 'degree_corrected'}
        The block model whose ICL chose them.
    seconds : float
        Wall time of the search.
    row_labels, column_labels : ndarray of int
        The chosen pair's partition.
    """

    n_row_clusters: int
    n_column_clusters: int
    scores: dict
    model: str
    seconds: float
    row_labels: np.ndarray = field(repr=False)
    column_labels: np.ndarray = field(repr=False)


class _Search:
    """Scores of candidate ``(L, Q)`` by ``criterion`` (soft memberships), each computed
    once; k-means starts cached per side."""

    def __init__(self, csr, likelihood, degree_corrected, seed, embedding, ceiling,
                 criterion):
        self.csr, self.csr_t = csr, csr.T.tocsr()
        self.criterion = criterion
        self.likelihood, self.degree_corrected = likelihood, degree_corrected
        self.seed, self.embedding, self.ceiling = seed, embedding, ceiling
        self.starts = ({}, {})
        self.scores, self.partitions = {}, {}
        self.best = None  # the chosen pair, once the path and the climb are done

    def start(self, side, n_clusters):
        """Spectral k-means labels of one side (0 rows, 1 columns) into ``n_clusters``."""
        cache = self.starts[side]
        if n_clusters not in cache:
            # The first n_clusters directions: as many as n_clusters profiles can span.
            cache[n_clusters] = kmeans_labels(self.embedding[side][:, :n_clusters],
                                              n_clusters, self.seed)
        return cache[n_clusters]

    def candidate_starts(self, shape):
        """Start pairs at ``shape``: the spectral k-means pair, and rows clustered by their
        profile over the spectral column clusters, then columns by theirs over those row
        clusters, ``PROFILE_ROUNDS`` times (:func:`profile_labels`)."""
        rows, columns = self.start(0, shape[0]), self.start(1, shape[1])
        profile_columns = columns
        for _ in range(PROFILE_ROUNDS):
            profile_rows = profile_labels(self.csr, profile_columns, shape,
                                          self.degree_corrected, self.seed)
            profile_columns = profile_labels(self.csr_t, profile_rows, shape[::-1],
                                             self.degree_corrected, self.seed)
        return [(rows, columns), (profile_rows, profile_columns)]

    def score(self, shape):
        """Criterion of the best EM memberships at ``shape`` (cached); -inf outside the
        ceiling."""
        if not all(1 <= k <= top for k, top in zip(shape, self.ceiling)):
            return -np.inf
        if shape not in self.scores:
            self.scores[shape] = -np.inf
            for start in self.candidate_starts(shape):
                memberships = refined_memberships(self.csr, *start, shape, self.likelihood,
                                                  self.degree_corrected)
                score = self.criterion(self.csr, *memberships, self.likelihood,
                                       self.degree_corrected)
                if score > self.scores[shape]:
                    self.scores[shape] = score
                    self.partitions[shape] = tuple(m.argmax(1) for m in memberships)
        return self.scores[shape]


def choose_cluster_counts(csr, likelihood, seed, max_clusters=MAX_AUTO_CLUSTERS,
                          criterion=icl_of_memberships):
    """The ``(L, Q)`` of highest ICL (module docstring).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    seed : int
        Seeds the SVD and the k-means draws.
    max_clusters : int, default=MAX_AUTO_CLUSTERS
        Most clusters per side.
    criterion : callable, default=icl_of_memberships
        ``criterion(csr, row_resp, column_resp, likelihood, degree_corrected)``, higher
        is better (``benchmarks/count_criteria.py`` holds others, measured and not kept).

    Returns
    -------
    choice : ClusterCountChoice
    """
    began = time.perf_counter()
    likelihood = as_likelihood(likelihood)
    ceiling = (min(max_clusters, csr.shape[0]), min(max_clusters, csr.shape[1]))
    embedding = spectral_coordinates(csr, max(ceiling) + 1, likelihood.real_valued, seed)
    search = None
    for degree_corrected in _models_to_try(likelihood):
        if search is not None and not _plain_predicts_better(csr, likelihood, search):
            break
        search = _Search(csr, likelihood, degree_corrected, seed, embedding, ceiling,
                         criterion)
        search.best = _hill_climb(search, _greedy_path(search, (1, 1)))
    return ClusterCountChoice(
        *search.best, dict(search.scores),
        DEGREE_CORRECTED_MODEL if search.degree_corrected else BLOCK_MODEL,
        time.perf_counter() - began, *search.partitions[search.best])


def _models_to_try(likelihood):
    """The degree-corrected model first for non-negative cells, then the plain one."""
    return (True, False) if likelihood.non_negative else (False,)


def _plain_predicts_better(csr, likelihood, search):
    """Whether the plain block model of the degree-corrected search's partition predicts
    held-out cells at least as well as the degree-corrected one.

    The two ICLs are not comparable (the degree-corrected one plugs in a total per row and
    column); held-out prediction is, as in the refinement stage. Where totals vary, the
    degree-corrected model predicts better and its choice stands (a plain search would
    add clusters of degree, and cost more); where they do not, the estimated totals only
    add noise and the plain model's search decides.
    """
    plain, degree_corrected = held_out_scores(csr, likelihood, *search.partitions[search.best],
                                              held_out_cells(csr))
    return plain >= degree_corrected


def _greedy_path(search, current):
    """Best pair on the path of best next steps, stopped ``PATIENCE`` steps after the last
    improvement or at the ceiling."""
    best, stalled = current, 0
    while stalled < PATIENCE:
        steps = [(current[0] + 1, current[1]), (current[0], current[1] + 1),
                 (current[0] + 1, current[1] + 1)]
        scores = [search.score(step) for step in steps]
        if not np.isfinite(max(scores)):
            break
        current = steps[int(np.argmax(scores))]
        if search.score(current) > search.score(best):
            best, stalled = current, 0
        else:
            stalled += 1
    return best


def _hill_climb(search, best):
    """Move to the best of the eight neighbours of ``best`` while one is better."""
    while True:
        neighbours = [(best[0] + dl, best[1] + dq) for dl in (-1, 0, 1) for dq in (-1, 0, 1)
                      if (dl, dq) != (0, 0)]
        challenger = max(neighbours, key=search.score)
        if search.score(challenger) <= search.score(best):
            return best
        best = challenger


def spectral_coordinates(csr, rank, real_valued, seed):
    """Row and column coordinates for the k-means starts, shapes (M, rank) and (P, rank).

    Non-negative data: the truncated SVD of ``D_r^-1/2 A D_c^-1/2`` without its leading
    direction, each row's coordinates divided by the square root of its degree (so they are
    the mean of its profile over the column directions, free of its total: SpectralCo-
    clustering's scaling). Real values: the truncated SVD of the matrix itself.
    """
    rank = max(1, min(rank, min(csr.shape) - 1))
    if real_valued:
        u, s, vt = randomized_svd(csr, rank, random_state=seed)
        return u * s, vt.T * s
    row_degrees = np.asarray(csr.sum(axis=1)).ravel()
    column_degrees = np.asarray(csr.sum(axis=0)).ravel()
    row_scale, column_scale = (np.where(d > 0, 1.0 / np.sqrt(np.maximum(d, 1e-300)), 0.0)
                               for d in (row_degrees, column_degrees))
    normalised = csr.multiply(row_scale[:, None]).multiply(column_scale[None, :]).tocsr()
    u, s, vt = randomized_svd(normalised, rank + 1, random_state=seed)
    return (u * s)[:, 1:] * row_scale[:, None], (vt.T * s)[:, 1:] * column_scale[:, None]


def kmeans_labels(points, n_clusters, seed, weights=None):
    """k-means labels of ``points`` (n, d), optionally weighted; one cluster: all zeros."""
    if n_clusters == 1:
        return np.zeros(points.shape[0], dtype=np.int64)
    with warnings.catch_warnings():
        # Fewer distinct points than clusters (profiles over one column cluster, for
        # shares all equal) leave clusters empty: the criterion then ranks that start low.
        warnings.simplefilter("ignore", ConvergenceWarning)
        kmeans = KMeans(n_clusters, n_init=KMEANS_DRAWS, random_state=seed)
        return kmeans.fit(points, sample_weight=weights).labels_


def profile_labels(csr, other_labels, shape, degree_corrected, seed):
    """k-means labels of the rows of ``csr`` on their profiles over the other side's
    clusters: the mean of each row's cells in each column cluster, or, for the
    degree-corrected model, the share of the row's total in each column cluster.

    Parameters
    ----------
    csr : csr_matrix of shape (n, m)
    other_labels : ndarray of int, shape (m,)
    shape : tuple of (int, int)
        Clusters of the rows and of the other side.
    degree_corrected : bool
    seed : int

    Returns
    -------
    labels : ndarray of int, shape (n,)
    """
    sums = np.asarray(csr @ one_hot(other_labels, shape[1]).toarray())
    if not degree_corrected:
        profiles = sums / np.maximum(np.bincount(other_labels, minlength=shape[1]), 1)
        return kmeans_labels(profiles, shape[0], seed)
    # A row's shares are as noisy as its total is small: weigh the rows by their totals.
    totals = sums.sum(1)
    return kmeans_labels(sums / np.maximum(totals, EPS)[:, None], shape[0], seed,
                         weights=totals)


def refined_memberships(csr, row_labels, column_labels, shape, likelihood, degree_corrected):
    """Soft memberships after the EM of the block model (plain of ``likelihood``, or the
    degree-corrected one) from the given labels."""
    rows, columns = np.eye(shape[0])[row_labels], np.eye(shape[1])[column_labels]
    if degree_corrected:
        rows, columns = refine_degree_corrected(csr, rows, columns, max_iter=EM_ITERATIONS,
                                                tol=EM_TOL)
    else:
        rows, columns, _ = refine_block_model(csr, rows, columns, likelihood=likelihood,
                                              max_iter=EM_ITERATIONS, tol=EM_TOL)
    return rows, columns
