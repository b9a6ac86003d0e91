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
from .._parallel.reducer import IDENTITY
from .sharding import WHOLE


def empty_clusters(resp, reducer=IDENTITY):
    """Clusters that are the most likely one of no node (of any process, on a shard)."""
    sizes = reducer.sum_array(np.bincount(resp.argmax(1), minlength=resp.shape[1]))
    return np.flatnonzero(sizes == 0)


def member_profiles(linked, other_sizes, non_negative):
    """Members' mean values over each cluster of the other side, from their sums
    ``linked`` over those clusters; for non-negative data, as proportions of each member's
    total, so that members split by profile and not by degree."""
    means = linked / np.maximum(other_sizes, EPS)
    if non_negative:
        means /= np.maximum(means.sum(1, keepdims=True), EPS)
    return means


def fill_empty_clusters(csr, row_resp, column_resp, likelihood, random_state=0,
                        sharding=WHOLE):
    """Row and column memberships with no empty cluster, where the matrix allows.

    One empty cluster at a time, on whichever side splitting gains most: the empty
    cluster receives one half of the cluster whose split gains most (:func:`best_split`),
    given the other side's current clusters. A side whose clusters merge what the other
    side needs to tell apart is thus split first. Where no cluster can be split, the
    remaining clusters stay empty.

    On a row shard, the 2-means of a row cluster's members needs their profiles, spread
    over the processes: every row's sums over the column clusters (M x Q floats, as small
    as the row positions the sharded k-means start gathers) are gathered on every process
    while a row cluster is empty, so that the splits are exactly those of one process;
    the first process's choice is then broadcast, so that no rounding can split the
    processes.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    row_resp, column_resp : ndarray of shape (M, L) and (P, Q)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
        The block model's likelihood; for non-negative data, profiles are proportions of
        each member's total.
    random_state : int, default=0
    sharding : Sharding, optional
        Where the sums run (a row shard: ``csr`` and ``row_resp`` are this process's rows).

    Returns
    -------
    row_resp, column_resp : ndarray
        Each the input itself where nothing moved on that side; otherwise a copy in which
        the moved members belong to their new cluster with probability one.
    """
    likelihood = as_likelihood(likelihood)
    sides = [[csr, row_resp, sharding], [None, column_resp, sharding.T]]
    while True:
        splits = []
        for side, (matrix, resp, side_sharding) in enumerate(sides):
            empty = empty_clusters(resp, side_sharding.rows)
            if empty.size == 0:
                continue
            if matrix is None:
                matrix = sides[side][0] = csr.T.tocsr()
            gain, moved = best_split(*_whole_side(matrix, resp, sides[1 - side][1],
                                                  side_sharding), likelihood, random_state)
            if moved is not None:
                splits.append((gain, side, empty[0], moved))
        side, cluster, moved = _agreed_split(splits, sides, sharding.cells)
        if side is None:
            return sides[0][1], sides[1][1]
        resp, side_sharding = sides[side][1].copy(), sides[side][2]
        moved = moved - side_sharding.rows.offset(resp.shape[0])
        moved = moved[(moved >= 0) & (moved < resp.shape[0])]
        resp[moved] = 0.0
        resp[moved, cluster] = 1.0
        sides[side][1] = resp


def _whole_side(matrix, resp, other_resp, sharding):
    """Every node's sums over the other side's clusters, the other side's cluster sizes
    and every node's label, gathered where the side is split across processes."""
    linked = sharding.columns.sum_array(matrix @ other_resp)
    return (sharding.rows.gather_array(linked),
            sharding.columns.sum_array(other_resp.sum(0)),
            sharding.rows.gather_array(resp.argmax(1)))


def _agreed_split(splits, sides, reducer):
    """The split that gains most, as the first process chose it.

    Returns
    -------
    side, cluster : int or None
        None where no cluster can be split.
    moved : ndarray of int or None
        The moved nodes' indices among all of the side's nodes.
    """
    best = max(splits, key=lambda split: split[0]) if splits else None
    local_side = -1 if best is None else best[1]
    choice = reducer.broadcast(np.array([local_side, 0 if best is None else best[2]],
                                        dtype=np.int64))
    if choice[0] < 0:
        return None, None, None
    side, cluster = int(choice[0]), int(choice[1])
    mask = np.zeros(sides[side][2].rows.count(sides[side][1].shape[0]), dtype=np.int64)
    if local_side == side:
        mask[best[3]] = 1
    return side, cluster, np.flatnonzero(reducer.broadcast(mask))


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
