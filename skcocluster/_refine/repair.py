"""Fill the clusters a refinement leaves empty, by splitting the largest cluster in two.

The block models' EM can empty a cluster (most often the degree-corrected one on text,
where a small cluster of rare words is absorbed by its neighbour). A partition with fewer
clusters than asked for is not what the user asked for, yet the rest of it can be the best
partition on offer; so, as in split-and-merge EM, each empty cluster takes one half of the
largest cluster, halved by 2-means on the members' profiles over the other side's clusters.
"""

import numpy as np
from sklearn.cluster import KMeans

from .._likelihoods import EPS


def empty_clusters(resp):
    """Clusters that are the most likely one of no node."""
    return np.setdiff1d(np.arange(resp.shape[1]), np.unique(resp.argmax(1)))


def member_profiles(csr, other_resp, members, non_negative):
    """Each member's mean value over each cluster of the other side; for non-negative data,
    as proportions of its total, so that members split by profile and not by degree."""
    means = np.asarray(csr[members] @ other_resp) / np.maximum(other_resp.sum(0), EPS)
    if non_negative:
        means /= np.maximum(means.sum(1, keepdims=True), EPS)
    return means


def fill_empty_clusters(csr, resp, other_resp, non_negative, random_state=0):
    """Memberships of the rows of ``csr`` with no empty cluster, where the matrix allows.

    Each empty cluster receives one half of the currently largest cluster whose members
    do not all share one profile (:func:`split_half`); where no cluster can be split, the
    remaining clusters stay empty.

    Parameters
    ----------
    csr : csr_matrix of shape (n, m)
        The matrix with this side as rows.
    resp : ndarray of shape (n, K)
    other_resp : ndarray of shape (m, Q)
    non_negative : bool
        Whether profiles are proportions of each member's total (count and 0/1 data).
    random_state : int, default=0

    Returns
    -------
    resp : ndarray of shape (n, K)
        ``resp`` itself where nothing was empty; otherwise a copy in which the moved
        members belong to their new cluster with probability one.
    """
    empty = empty_clusters(resp)
    if empty.size == 0:
        return resp
    resp, labels = resp.copy(), resp.argmax(1)
    for cluster in empty:
        moved = split_half(csr, other_resp, labels, non_negative, random_state)
        if moved is None:
            break
        labels[moved] = cluster
        resp[moved] = 0.0
        resp[moved, cluster] = 1.0
    return resp


def split_half(csr, other_resp, labels, non_negative, random_state):
    """One half of the largest cluster that has two distinct member profiles (2-means on
    :func:`member_profiles`), or None where no cluster has."""
    sizes = np.bincount(labels)
    for largest in np.argsort(-sizes, kind="stable")[:np.count_nonzero(sizes > 1)]:
        members = np.flatnonzero(labels == largest)
        profiles = member_profiles(csr, other_resp, members, non_negative)
        if np.unique(profiles.round(12), axis=0).shape[0] > 1:
            halves = KMeans(2, n_init=3, random_state=random_state).fit_predict(profiles)
            return members[halves == 1]
    return None
