"""Several facets (``n_facets``): their cluster counts, their schedule's check, and the
fitted attributes of every facet.

The facets' training (fade-in, start, settled labels) is ``_train/facets.py``, their start
``_start/factorial.py``, their refinement ``_refine/facets.py`` and their mixtures
``_nn/facet_mixture.py``; docs/model.rst, "Facets", gives the model.
"""

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from .._data.validation import check_cluster_counts, check_n_clusters
from .._nn.facet_mixture import FacetMixturePrior


# Two facets whose row partitions agree at least this much (ARI) count as the same one.
DUPLICATE_FACET_ARI = 0.9
# With several facets, most columns answer to one facet only: in the others they form a
# cluster of their own, paired with no row cluster. An int entry of n_clusters gets it.
BACKGROUND_COLUMN_CLUSTERS = 1


def cluster_counts(n_clusters, n_facets):
    """Cluster counts of every facet from an estimator's ``n_clusters`` and ``n_facets``.

    Parameters
    ----------
    n_clusters : 'auto', int, tuple of (int, int) or list
        With one facet, ``'auto'``, ``k`` or ``(L, Q)``
        (:func:`~skcocluster._data.validation.check_n_clusters`); with several, as
        :func:`facet_cluster_counts` reads it.
    n_facets : int

    Returns
    -------
    counts : list of tuple of (int, int) or None
        ``(n_row_clusters, n_column_clusters)`` of each facet; the first is the reported
        partition's. None for ``'auto'``: the fit chooses them from the data (an L x Q
        checkerboard, unpaired).
    paired : bool
        Whether the reported partition's biclusters pair row and column clusters.
    """
    if isinstance(n_clusters, str) and n_clusters == "auto":
        if n_facets > 1:
            raise ValueError(
                f"n_clusters='auto' chooses the clusters of one partition; with "
                f"n_facets={n_facets} give the numbers of every facet (an int, a pair "
                "(L, Q) or a list with one entry per facet), e.g. chosen by a fit with "
                "n_facets=1 and n_clusters='auto'.")
        return None, False
    if n_facets == 1:
        n_rows, n_columns, paired = check_n_clusters(n_clusters)
        return [(n_rows, n_columns)], paired
    return facet_cluster_counts(n_clusters, n_facets)


def facet_cluster_counts(n_clusters, n_facets):
    """Per-facet cluster counts from the estimator's ``n_clusters``.

    Parameters
    ----------
    n_clusters : int, tuple of (int, int) or list
        With ``n_facets > 1``: a list gives one entry per facet (each an int ``k`` or a pair
        ``(L, Q)``); an int or a tuple is used for every facet. An int ``k >= 2`` means
        ``k`` row clusters paired with ``k`` column clusters plus one column cluster for
        the columns the facet does not affect (``BACKGROUND_COLUMN_CLUSTERS``); a pair
        means exactly ``L`` row and ``Q`` column clusters.
    n_facets : int

    Returns
    -------
    counts : list of tuple of (int, int)
        ``(n_row_clusters, n_column_clusters)`` of each facet.
    paired : bool
        Whether facet 1's entry is a single int (SpectralCoclustering-style biclusters).
    """
    if isinstance(n_clusters, list):
        if len(n_clusters) != n_facets:
            raise ValueError(
                f"With n_facets={n_facets}, a list n_clusters needs one entry per facet "
                f"({n_facets} entries); got {len(n_clusters)}. Give a tuple (L, Q) or an int "
                "to use the same numbers for every facet.")
        entries = n_clusters
    else:
        entries = [n_clusters] * n_facets
    counts = []
    for facet, entry in enumerate(entries):
        try:
            n_rows, n_columns, paired = check_n_clusters(entry)
        except ValueError:
            raise ValueError(
                f"n_clusters entry for facet {facet + 1} must be a positive int or a pair of "
                f"positive ints (n_row_clusters, n_column_clusters); got {entry!r}.") from None
        background = BACKGROUND_COLUMN_CLUSTERS if paired and n_rows > 1 else 0
        counts.append((n_rows, n_columns + background))
        if facet == 0:
            first_paired = paired
    return counts, first_paired


def check_facet_schedule(n_facets, fade_epochs, max_iter):
    """Raise a ValueError unless every facet is fully faded in by the last epoch."""
    needed = (n_facets - 1) * fade_epochs
    if n_facets > 1 and max_iter < needed:
        raise ValueError(
            f"max_iter={max_iter} is too small for n_facets={n_facets} with "
            f"facet_fade_epochs={fade_epochs}: progressive training needs at least "
            f"(n_facets - 1) * facet_fade_epochs = {needed} epochs. Raise max_iter or "
            "lower facet_fade_epochs.")


def check_facet_cluster_counts(shape, counts):
    """Raise a ValueError when a facet asks for more clusters than rows or columns."""
    for n_rows, n_columns in counts:
        check_cluster_counts(shape, n_rows, n_columns)


# ------------------------------------------------------------------ fitted results
def facet_results(prior, posterior, reported_resp, refined=None):
    """Per-facet memberships and KL of one side of a fitted model.

    Facet 1's memberships are the reported ones (after block refinement and pairing), so
    that facet 1's labels are exactly ``row_labels_`` / ``column_labels_``.

    Parameters
    ----------
    prior : GaussianMixturePrior or FacetMixturePrior
    posterior : tuple of Tensor
        Posterior means (n, J d) and log-variances (n,) of the side's training nodes.
    reported_resp : ndarray of shape (n, K_1)
    refined : list of ndarray, optional
        Memberships of every facet after the conditional refinement; those of facets
        2.. replace the mixtures' memberships.

    Returns
    -------
    memberships : list of ndarray
        One array of shape (n, K_j) per facet.
    kl : ndarray of shape (n_facets,)
        Mean over the nodes of ``KL(q(X^j, c^j) || p(X^j, c^j))``, in nats; near 0 for a
        facet the decoder does not use (a dead facet).
    """
    mean, log_var = posterior
    reported = torch.as_tensor(reported_resp, dtype=mean.dtype)
    with torch.no_grad():
        if isinstance(prior, FacetMixturePrior):
            others = (prior.facet_responsibilities(mean, log_var)[1:] if refined is None
                      else [torch.as_tensor(r, dtype=mean.dtype) for r in refined[1:]])
            resp = [reported] + others
            terms = prior.facet_prior_terms(resp, mean, log_var)
        else:
            resp = [reported]
            terms = prior.prior_terms(reported, mean, log_var).reshape(1)
    memberships = [np.asarray(reported_resp)] + [r.double().numpy() for r in resp[1:]]
    return memberships, (-terms / mean.shape[0]).double().numpy()


def agreement_matrix(labels):
    """ARI between the labels of every pair of facets, shape (n_facets, n_facets)."""
    n_facets = len(labels)
    ari = np.eye(n_facets)
    for a in range(n_facets):
        for b in range(a + 1, n_facets):
            ari[a, b] = ari[b, a] = adjusted_rand_score(labels[a], labels[b])
    return ari


def warn_on_duplicate_facets(labels, threshold=DUPLICATE_FACET_ARI):
    """Warn (ConvergenceWarning) when two facets found the same row partition.

    Pairs where a facet has a single label are skipped (their ARI says nothing).
    """
    ari = agreement_matrix(labels)
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            informative = np.unique(labels[a]).size > 1 and np.unique(labels[b]).size > 1
            if informative and ari[a, b] >= threshold:
                warnings.warn(
                    f"Facets {a + 1} and {b + 1} found the same row partition (ARI "
                    f"{ari[a, b]:.2f} >= {threshold}): the data may hold fewer independent "
                    "partitions than n_facets, or a facet collapsed onto another. See "
                    "facet_row_ari_ and row_facet_kl_.", ConvergenceWarning)
    return ari


def facet_attributes(row_memberships, column_memberships, row_kl=None, column_kl=None):
    """The per-facet fitted attributes of an estimator (also for one facet).

    ``*_memberships_facets_``, ``*_labels_facets_``, ``facet_row_ari_`` (warning when two
    facets found the same row partition), ``facet_column_ari_`` and, where given,
    ``row_facet_kl_`` and ``column_facet_kl_``.

    Parameters
    ----------
    row_memberships, column_memberships : list of ndarray
        One (n, K_j) array per facet; the first should be the reported memberships.
    row_kl, column_kl : ndarray of shape (n_facets,), optional
        Each facet's KL to its prior (:func:`facet_results`).

    Returns
    -------
    attributes : dict of str to object
        The attributes by name, for the estimator to set.
    """
    attributes = {}
    for side, kl in (("row", row_kl), ("column", column_kl)):
        if kl is not None:
            attributes[f"{side}_facet_kl_"] = kl
    labels = {}
    for side, memberships in (("row", row_memberships), ("column", column_memberships)):
        labels[side] = [resp.argmax(1) for resp in memberships]
        attributes[f"{side}_memberships_facets_"] = memberships
        attributes[f"{side}_labels_facets_"] = np.vstack(labels[side])
    attributes["facet_row_ari_"] = warn_on_duplicate_facets(labels["row"])
    attributes["facet_column_ari_"] = agreement_matrix(labels["column"])
    return attributes
