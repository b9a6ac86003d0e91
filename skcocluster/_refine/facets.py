"""Refinement of several facets: each facet's memberships by EM of a block model given the
other facets' labels (``block_refinement`` with ``n_facets > 1``)."""

import numpy as np
from scipy.special import logsumexp
from sklearn.cluster import KMeans

from .._likelihoods import EPS, as_likelihood, make_likelihood


# Conditional block refinement (block_refinement with facets): rounds over the two sides,
# and EM iterations per facet and start.
FACET_REFINE_ROUNDS = 3
FACET_REFINE_ITER = 30


# Newton steps of the additive natural parameters per M step, and their bound.
ADDITIVE_NEWTON_STEPS = 5
MAX_NATURAL = 30.0


# ------------------------------------------------------------------ conditional refinement
def joint_codes(labels):
    """One integer per node for its tuple of labels across facets.

    Parameters
    ----------
    labels : ndarray of shape (n_facets, n)

    Returns
    -------
    codes : ndarray of shape (n,)
        Equal for two nodes exactly when they share their labels in every facet.
    """
    labels = np.asarray(labels)
    if labels.shape[0] == 0:
        return np.zeros(labels.shape[1], dtype=int)
    return np.unique(labels.T, axis=0, return_inverse=True)[1].ravel()


def _one_hot(codes, n_codes=None):
    """One-hot rows of integer codes (``n_codes`` columns, by default the largest + 1)."""
    n_codes = int(codes.max()) + 1 if n_codes is None else n_codes
    return np.eye(n_codes)[codes]


def additive_natural_parameters(sums, counts, facet_part, context_part, likelihood,
                                n_steps=ADDITIVE_NEWTON_STEPS):
    """Fit ``theta[k, s, q] = a[k, q] + b[s, q]`` to block sums by Newton steps.

    The natural parameter of the cells of facet cluster ``k``, context ``s`` and column
    cluster ``q`` is additive in the facet's cluster and in the context: a facet's
    cluster then means the same in every context. Without this tie, a label permutation
    within one context leaves the likelihood unchanged, and EM can settle on partitions
    permuted differently per context, at the same likelihood as the planted partition.
    Exact for planted data where each column follows one facet.

    Parameters
    ----------
    sums, counts : ndarray of shape (K, S, Q)
        Sum of the (membership-weighted) cell values and number of cells of each block.
    facet_part, context_part : ndarray of shape (K, Q) and (S, Q)
        Starting ``a`` and ``b`` (updated in place and returned).
    likelihood : {'bernoulli', 'poisson'}
    n_steps : int
        Alternating one-dimensional Newton steps on ``a`` and ``b``.

    Returns
    -------
    facet_part, context_part : ndarray
    """
    moments = as_likelihood(likelihood).moments
    for _ in range(n_steps):
        for part, axis in ((facet_part, 1), (context_part, 0)):
            mean, variance, _ = moments(facet_part[:, None, :] + context_part[None, :, :])
            gradient = (sums - counts * mean).sum(axis)
            curvature = (counts * variance).sum(axis)
            part += np.clip(gradient / np.maximum(curvature, EPS), -2.0, 2.0)
            np.clip(part, -MAX_NATURAL, MAX_NATURAL, out=part)
    return facet_part, context_part


def conditional_block_em(csr, resp, context, other_resp, likelihood, n_iter=FACET_REFINE_ITER):
    """EM of one facet's memberships in a block model given the other facets' labels.

    Each node ``i`` of the side has a fixed context ``s_i`` (its labels in the other
    facets) and the other side's nodes a fixed cluster ``q``; cells follow the
    exponential-family block model with natural parameter ``a[k, q] + b[s_i, q]``
    (:func:`additive_natural_parameters`), ``k`` the node's cluster in this facet. The
    other facets' structure is thus explained by ``b``, and does not pull this facet's
    partition towards it, as a plain block model of the whole matrix does. The
    log-likelihood of node ``i`` in cluster ``k`` is
    ``sum_q [(A delta)_iq theta_kq - n_q psi(theta_kq)]`` up to a term free of ``k``.

    Parameters
    ----------
    csr : sparse matrix of shape (n, m)
        Rows are the nodes whose facet is refined.
    resp : ndarray of shape (n, K)
        Starting memberships of the facet.
    context : ndarray of shape (n,)
        ``s_i`` (:func:`joint_codes` of the other facets' labels).
    other_resp : ndarray of shape (m, Q)
        One-hot clusters of the other side.
    likelihood : {'bernoulli', 'poisson'}
    n_iter : int

    Returns
    -------
    resp : ndarray of shape (n, K)
    log_likelihood : float
        ``sum_i log sum_k pi_k exp(l_ik)`` at the last parameters (free of the start, up to
        a constant, so the results of two starts compare).
    """
    linked = np.asarray(csr @ other_resp)  # (n, Q) sum of the node's cells per cluster
    sizes = other_resp.sum(0)  # (Q,)
    contexts = _one_hot(context)  # (n, S)
    likelihood = as_likelihood(likelihood)
    moments = likelihood.moments
    mean_value = max(linked.sum() / max(csr.shape[0] * csr.shape[1], 1), EPS)
    base = likelihood.natural_of_mean(mean_value)
    facet_part = np.full((resp.shape[1], sizes.size), base)
    context_part = np.zeros((contexts.shape[1], sizes.size))
    log_likelihood = -np.inf
    for _ in range(n_iter):
        weight = resp[:, :, None] * contexts[:, None, :]  # (n, K, S)
        counts = np.einsum("iks,q->ksq", weight, sizes)
        sums = np.einsum("iks,iq->ksq", weight, linked)
        facet_part, context_part = additive_natural_parameters(
            sums, counts, facet_part, context_part, likelihood)
        natural = facet_part[:, None, :] + context_part[None, :, :]  # (K, S, Q)
        cumulant = moments(natural)[2]
        # l_ik = sum_q linked_iq theta[k, s_i, q] - sizes_q psi[k, s_i, q]
        per_context = (np.einsum("iq,ksq->iks", linked, natural)
                       - np.einsum("q,ksq->ks", sizes, cumulant)[None])
        logits = (np.einsum("iks,is->ik", per_context, contexts)
                  + np.log(np.maximum(resp.mean(0), EPS))[None, :])
        normaliser = logsumexp(logits, axis=1)
        new_resp = np.exp(logits - normaliser[:, None])
        log_likelihood = float(normaliser.sum())
        converged = np.abs(new_resp - resp).max() < 1e-6
        resp = new_resp
        if converged:
            break
    return resp, log_likelihood


def residual_profile_labels(csr, context, other_resp, n_clusters, seed):
    """k-means start of a facet on what the other facets do not explain.

    A node's profile is its mean cell value over each cluster of the other side, minus
    the mean profile of the nodes with the same context (the same labels in the other
    facets), scaled by the square root of the cluster's size (so each cell counts once).
    A partition the deep model merged (e.g. two row groups whose profiles differ by a
    shift on every column cluster) separates there.

    Parameters
    ----------
    csr : sparse matrix of shape (n, m)
    context : ndarray of shape (n,)
    other_resp : ndarray of shape (m, Q)
        One-hot clusters of the other side.
    n_clusters : int
    seed : int

    Returns
    -------
    labels : ndarray of shape (n,)
    """
    sizes = other_resp.sum(0)
    profile = np.asarray(csr @ other_resp) / np.maximum(sizes, 1.0)
    for value in np.unique(context):
        members = context == value
        profile[members] -= profile[members].mean(0)
    profile *= np.sqrt(sizes)
    return KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(profile)


def column_clusters_given_rows(csr, row_labels, n_clusters, seed):
    """Clusters of the columns by their mean cell values over the rows' joint clusters.

    The rows' joint clusters (their labels in every facet) are the cells of the product
    partition, on which every column's distribution depends in the multi-facet model.
    The deep model's own column labels can merge two column clusters of a facet (seen on
    planted data), which then hides the row groups that differ only there; re-clustering
    the columns, with ``n_clusters`` generous, keeps them apart.

    Parameters
    ----------
    csr : sparse matrix of shape (n, m)
    row_labels : ndarray of shape (n_facets, n)
    n_clusters : int
    seed : int

    Returns
    -------
    resp : ndarray of shape (m, n_clusters')
        One-hot clusters (``n_clusters' = min(n_clusters, m)``).
    """
    joint = _one_hot(joint_codes(row_labels))
    sizes = joint.sum(0)
    profile = np.asarray(csr.T @ joint) / sizes * np.sqrt(sizes)
    n_clusters = min(n_clusters, csr.shape[1])
    return _one_hot(KMeans(n_clusters, n_init=3, random_state=seed).fit_predict(profile),
                    n_clusters)


def refine_side_facets(csr, memberships, other_resp, likelihood, seed):
    """One pass of conditional refinement over the facets of one side.

    Facet by facet, :func:`conditional_block_em` from two starts, the current
    memberships and :func:`residual_profile_labels`, keeping the higher likelihood;
    the next facet sees the refined labels.

    Parameters
    ----------
    csr : sparse matrix of shape (n, m)
    memberships : list of ndarray
        One (n, K_j) array per facet.
    other_resp : ndarray of shape (m, Q)
        One-hot clusters of the other side.

    Returns
    -------
    memberships : list of ndarray
    """
    memberships = [np.asarray(resp, dtype=np.float64) for resp in memberships]
    for facet, resp in enumerate(memberships):
        labels = np.vstack([m.argmax(1) for m in memberships])
        context = joint_codes(np.delete(labels, facet, axis=0))
        n_clusters = resp.shape[1]
        starts = [resp, _one_hot(residual_profile_labels(csr, context, other_resp,
                                                         n_clusters, seed), n_clusters)]
        results = [conditional_block_em(csr, start, context, other_resp, likelihood)
                   for start in starts]
        memberships[facet] = max(results, key=lambda result: result[1])[0]
    return memberships


def refine_facets(csr, row_memberships, n_column_clusters, likelihood, seed,
                  n_rounds=FACET_REFINE_ROUNDS):
    """Conditional block refinement of the rows' facets.

    The multi-facet counterpart of ``block_refinement`` (user guide, "Several facets").
    Each round clusters the columns given the rows' joint labels
    (:func:`column_clusters_given_rows`), then refines each facet of the rows given the
    others (:func:`refine_side_facets`). Only the rows' facets are refined: they are
    independent partitions, so each facet's block model given the others is identified.
    The columns' facets are not (a column is usually affected by one facet only, so its
    label in one facet determines the others), and refining them the same way scrambles
    facet 1's column partition.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    row_memberships : list of ndarray
        Per-facet row memberships of the deep model, each of shape (M, L_j).
    n_column_clusters : int
        Column clusters used by the refinement (the product of the facets' numbers).
    likelihood : {'bernoulli', 'poisson'}
    seed : int
    n_rounds : int

    Returns
    -------
    row_memberships : list of ndarray
    """
    for _ in range(n_rounds):
        row_labels = np.vstack([m.argmax(1) for m in row_memberships])
        column_resp = column_clusters_given_rows(csr, row_labels, n_column_clusters, seed)
        row_memberships = refine_side_facets(csr, row_memberships, column_resp,
                                             likelihood, seed)
    return row_memberships


def refine_facet_memberships(csr, row_memberships, column_cluster_counts, likelihood, seed):
    """``block_refinement`` with several facets: the rows' facets refined (:func:`refine_facets`).

    Bernoulli and Poisson likelihoods only: with ``likelihood='gaussian'`` the estimator
    keeps its own memberships.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    row_memberships : list of ndarray
        Per-facet row memberships of the estimator's own model, each of shape (M, L_j).
    column_cluster_counts : sequence of int
        Column clusters of each facet (the refinement clusters the columns into their
        product).
    likelihood : str
        The resolved likelihood.
    seed : int

    Returns
    -------
    row_memberships : list of ndarray or None
        The refined per-facet row memberships; None for a real-valued likelihood.
    """
    if make_likelihood(likelihood).real_valued:
        return None
    n_column_clusters = int(np.prod(list(column_cluster_counts)))
    return refine_facets(csr, row_memberships, n_column_clusters, likelihood, seed)
