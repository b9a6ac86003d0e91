"""Fill the clusters a refinement leaves empty, by splitting another cluster in two.

The block models' EM can empty a cluster (most often the degree-corrected one on text,
where a small cluster of rare words is absorbed by its neighbour). A partition with fewer
clusters than asked for is not what the user asked for, yet the rest of it can be the best
partition on offer; so, as in split-and-merge EM, each empty cluster takes one half of
another cluster, halved by 2-means on the members' profiles over the other side's
clusters: of the cluster whose split gains most in the block model's likelihood, not of
the largest one (often homogeneous), and on whichever side gains most first (where two
column clusters are merged, the rows they tell apart cannot be split well until they
are separated).
"""

import numpy as np
from sklearn.cluster import KMeans

from .._likelihoods import EPS, as_likelihood


def empty_clusters(resp):
    """Clusters that are the most likely one of no node."""
    return np.setdiff1d(np.arange(resp.shape[1]), np.unique(resp.argmax(1)))


def member_profiles(linked, other_sizes, non_negative):
    """Members' mean values over each cluster of the other side, from their sums
    ``linked`` over those clusters; for non-negative data, as proportions of each member's
    total, so that members split by profile and not by degree."""
    means = linked / np.maximum(other_sizes, EPS)
    if non_negative:
        means /= np.maximum(means.sum(1, keepdims=True), EPS)
    return means


def fill_empty_clusters(csr, row_resp, column_resp, likelihood, random_state=0):
    """Row and column memberships with no empty cluster, where the matrix allows.

    One empty cluster at a time, on whichever side splitting gains most: the empty
    cluster receives one half of the cluster whose split gains most (:func:`best_split`),
    given the other side's current clusters. A side whose clusters merge what the other
    side needs to tell apart is thus split first. Where no cluster can be split, the
    remaining clusters stay empty.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    row_resp, column_resp : ndarray of shape (M, L) and (P, Q)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
        The block model's likelihood; for non-negative data, profiles are proportions of
        each member's total.
    random_state : int, default=0

    Returns
    -------
    row_resp, column_resp : ndarray
        Each the input itself where nothing moved on that side; otherwise a copy in which
        the moved members belong to their new cluster with probability one.
    """
    likelihood = as_likelihood(likelihood)
    sides = [[csr, row_resp], [None, column_resp]]
    while True:
        splits = []
        for side, (matrix, resp) in enumerate(sides):
            empty = empty_clusters(resp)
            if empty.size == 0:
                continue
            if matrix is None:
                matrix = sides[side][0] = csr.T.tocsr()
            other = sides[1 - side][1]
            gain, moved = best_split(np.asarray(matrix @ other), other.sum(0),
                                     resp.argmax(1), likelihood, random_state)
            if moved is not None:
                splits.append((gain, side, empty[0], moved))
        if not splits:
            return sides[0][1], sides[1][1]
        _, side, cluster, moved = max(splits, key=lambda split: split[0])
        resp = sides[side][1].copy()
        resp[moved] = 0.0
        resp[moved, cluster] = 1.0
        sides[side][1] = resp


def best_split(linked, other_sizes, labels, likelihood, random_state):
    """The split that gains most: each cluster whose members do not all share one profile
    is halved by 2-means on :func:`member_profiles`, and scored by :func:`split_gain`.

    Parameters
    ----------
    linked : ndarray of shape (n, Q)
        Every node's sums over the other side's clusters.
    other_sizes : ndarray of shape (Q,)
    labels : ndarray of shape (n,)
    likelihood : Likelihood
    random_state : int

    Returns
    -------
    gain : float
    moved : ndarray or None
        The members of the half to move; None where no cluster can be split.
    """
    best_gain, best_moved = -np.inf, None
    for cluster in np.flatnonzero(np.bincount(labels) > 1):
        members = np.flatnonzero(labels == cluster)
        profiles = member_profiles(linked[members], other_sizes, likelihood.non_negative)
        if np.unique(profiles.round(12), axis=0).shape[0] < 2:
            continue
        halves = KMeans(2, n_init=3, random_state=random_state).fit_predict(profiles)
        parts = [linked[members[halves == half]] for half in (0, 1)]
        gain = split_gain(linked[members], parts, other_sizes, likelihood)
        if gain > best_gain:
            best_gain, best_moved = gain, members[halves == 1]
    return best_gain, best_moved


def split_gain(whole, parts, other_sizes, likelihood):
    """How much splitting a cluster raises the block model's log-likelihood of its members.

    ``whole`` and each of ``parts`` hold their members' sums over the other side's
    clusters. For non-negative data, the gain of the members' profiles (the
    degree-corrected model, in which a member's total is its own: a split by degree alone
    gains nothing); otherwise that of the plain block model with the likelihood's natural
    parameters.
    """
    return sum(cluster_log_likelihood(part, other_sizes, likelihood) for part in parts) - (
        cluster_log_likelihood(whole, other_sizes, likelihood))


def cluster_log_likelihood(linked, other_sizes, likelihood):
    """Log-likelihood, up to terms a split does not change, of one cluster's members given
    the cluster's own block parameters (see :func:`split_gain`)."""
    sums = linked.sum(0)
    if likelihood.non_negative:
        shares = sums / max(sums.sum(), EPS)
        return float(sums[sums > 0] @ np.log(shares[sums > 0]))
    mass = linked.shape[0] * np.maximum(other_sizes, EPS)
    natural, cumulant = likelihood.natural_parameters(sums / mass)
    return float(sums @ natural - mass @ cumulant)
