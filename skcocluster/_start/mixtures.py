"""The Gaussian-mixture start of VariationalCoclustering: after the pretraining, a
Gaussian mixture on each side's latent means starts its mixture prior (``docs/model.rst``,
"Pretraining and initialisation").

Several mixtures are fitted on each side's latent means, each from its own k-means++
draw, and the pair of row and column partitions that best predicts held-out cells under
the block model is kept (``_start.choice.choose_start_pair``, the criterion of the final
selection). The mixtures' own bound is not the criterion: it can prefer a balanced
partition of the spectral coordinates to imbalanced planted clusters, which the block
model's held-out likelihood prefers (measured: benchmarks/README.md). A draw that lands
near the planted partition is then what matters, hence several.

With several facets, each facet's block of the latent is started from its own partition
(:func:`facet_mixture_start`), the columns' facets paired with the rows'
(:func:`column_facet_labels`).
"""

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from .._data.variational import side_first_layer, side_memberships, sparse_product
from .._nn.vae import LearntFacetMixture
from .choice import StartDraw, choose_start_pair
from .factorial import additive_tables, factorial_kmeans

# Mixtures fitted per side, each from its own k-means++ draw: with fewer draws, some fits
# get none near an imbalanced planted partition (measured: benchmarks/README.md).
N_MIXTURE_STARTS = 10


@dataclass
class MixtureStart(StartDraw):
    """One fitted mixture of one side: the partition it gives (:class:`StartDraw`) and its
    parameters."""

    weights: np.ndarray
    centres: np.ndarray
    variances: np.ndarray


def fit_mixture(means, n_components, seed, means_init=None):
    """A diagonal Gaussian mixture on the latent means.

    Parameters
    ----------
    means : ndarray of shape (n, D)
    n_components : int
    seed : int
        Seeds the k-means++ draw that starts it.
    means_init : ndarray of shape (n_components, D), optional
        Start from these component means instead.

    Returns
    -------
    start : MixtureStart
    """
    if means.shape[0] < 2:
        # A single vector (a one-row or one-column matrix): nothing to fit, one unit
        # component per cluster at that vector.
        centres = np.repeat(means.mean(0, keepdims=True), n_components, 0)
        return MixtureStart(np.zeros(means.shape[0], dtype=int), n_components, 0.0,
                            np.full(n_components, 1.0 / n_components), centres,
                            np.ones_like(centres))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixture = GaussianMixture(n_components, covariance_type="diag", reg_covar=1e-4,
                                  n_init=1, means_init=means_init,
                                  random_state=seed).fit(means)
    return MixtureStart(mixture.predict(means), n_components, float(mixture.lower_bound_),
                        mixture.weights_, mixture.means_, mixture.covariances_)


def fit_mixtures(means, n_components, seed, n_starts=N_MIXTURE_STARTS):
    """Mixtures on the latent means, one per k-means++ draw (seeds seed, seed + 1, ...);
    a single one for a single vector.

    Parameters
    ----------
    means : ndarray of shape (n, D)
    n_components : int
    seed : int
    n_starts : int, default=N_MIXTURE_STARTS

    Returns
    -------
    starts : list of MixtureStart
    """
    draws = 1 if means.shape[0] < 2 else n_starts
    return [fit_mixture(means, n_components, seed + draw) for draw in range(draws)]


def set_prior(prior, start):
    """Set a mixture prior's parameters from a fitted mixture.

    Parameters
    ----------
    prior : LearntMixture
    start : MixtureStart
    """
    prior.set_parameters(start.weights.astype(np.float32), start.centres.astype(np.float32),
                         start.variances.astype(np.float32))


def set_mixture_start(vae, start):
    """Start a side's mixture prior from a fitted mixture.

    The encoder's log-variance head is started at a quarter of the mean component variance,
    so the first samples stay inside the clusters the mixture found.

    Parameters
    ----------
    vae : SideVAE
    start : MixtureStart
    """
    set_prior(vae.prior, start)
    with torch.no_grad():
        vae.encoder.log_var.weight.zero_()
        vae.encoder.log_var.bias.fill_(float(np.log(start.variances.mean() / 4.0)))


def start_mixtures(model, data, config, seed, device):
    """Start both mixture priors from Gaussian mixtures on the latent means.

    The pair of row and column mixtures is chosen by held-out prediction
    (``_start.choice.choose_start_pair``); sides with several facets are started by
    :func:`start_facet_mixtures`.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    data : VariationalData
    config : VariationalConfig
    seed : int
    device : torch.device
    """
    if isinstance(model.rows.prior, LearntFacetMixture):
        start_facet_mixtures(model, data, seed, device)
        return
    starts = {}
    for side, data_side in (("row", data.rows), ("column", data.columns)):
        means, _ = side_memberships(model, side, data_side, device, means_only=True)
        n_components = model.side(side).prior.logits.numel()
        starts[side] = fit_mixtures(means.cpu().double().numpy(), n_components, seed)
    row_start, column_start = choose_start_pair(data.csr, config.likelihood, starts["row"],
                                                starts["column"])
    set_mixture_start(model.rows, row_start)
    set_mixture_start(model.columns, column_start)


def start_facet_mixtures(model, data, seed, device):
    """Start both sides when they have several facets (:func:`facet_mixture_start`).

    The rows are started from a factorial k-means, then the columns from their profiles
    over each row facet's clusters (:func:`column_facet_labels`), so that column facet j
    pairs with row facet j.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    data : VariationalData
    seed : int
    device : torch.device
    """
    row_labels = facet_mixture_start(model.rows, side_first_layer(model.rows, data.rows,
                                                                  device), seed)
    counts = [facet.logits.numel() for facet in model.columns.prior.facets]
    column_labels = column_facet_labels(data.columns, row_labels, counts, seed)
    facet_mixture_start(model.columns, side_first_layer(model.columns, data.columns, device),
                        seed, column_labels)


def start_mixture(prior, means, seed, labels):
    """Fit a Gaussian mixture on latent means, started from the means of the groups
    ``labels``, and start ``prior`` from it (one facet of a side with several facets).

    Parameters
    ----------
    prior : LearntMixture
    means : ndarray of shape (n, D)
    seed : int
    labels : ndarray of shape (n,)

    Returns
    -------
    variances : ndarray of shape (K, D)
        The component variances.
    """
    n_components = prior.logits.numel()
    means_init = np.vstack([means[labels == k].mean(0) if np.any(labels == k)
                            else means.mean(0) for k in range(n_components)])
    start = fit_mixture(means, n_components, seed, means_init)
    set_prior(prior, start)
    return start.variances


def facet_mixture_start(vae, first, seed, labels=None):
    """Start a side with several facets: each facet's block of the latent mean reads its
    own partition, and each facet's mixture is fitted there.

    The latent means are split as ``sum_j C^j[l_j(i)]``, one table per facet
    (``_start.factorial.additive_tables``), with labels from a factorial k-means of the
    means (``_start.factorial.factorial_kmeans``) unless given. Facet j's block of the mean
    head is then set to the least-squares linear map from the first layer's outputs to the
    principal coordinates of ``C^j[l_j(i)]`` (its part of each mean), so that block j starts
    with partition j alone: a plain mixture on the spectral coordinates, which hold every
    partition, would fit a mix of them. Each facet's mixture is then fitted on its block,
    started from its labels (``docs/model.rst``, "Facets").

    Parameters
    ----------
    vae : SideVAE
        With a :class:`LearntFacetMixture`.
    first : ndarray of shape (n, hidden_dim)
        First-layer outputs of the side's vectors.
    seed : int
    labels : ndarray of shape (n_facets, n), optional

    Returns
    -------
    labels : ndarray of shape (n_facets, n)
    """
    encoder, prior = vae.encoder, vae.prior
    weight = encoder.skip.weight

    def as_parameter(array):
        """``array`` as a tensor of the encoder's dtype and device."""
        return torch.as_tensor(array, dtype=weight.dtype, device=weight.device)

    with torch.no_grad():
        means = encoder.from_first_layer(as_parameter(first))[0].cpu().double().numpy()
    counts = [facet.logits.numel() for facet in prior.facets]
    if labels is None:
        labels = factorial_kmeans(means, counts, seed)
    tables = additive_tables(means, labels, counts)
    design = np.hstack([first, np.ones((first.shape[0], 1))])
    d = prior.facet_dim
    log_vars = []
    for facet, (table, facet_labels) in enumerate(zip(tables, labels)):
        part = table[facet_labels] - table[facet_labels].mean(0)
        _, _, directions = np.linalg.svd(part, full_matrices=False)
        target = np.zeros((part.shape[0], d))
        n_directions = min(d, directions.shape[0])
        target[:, :n_directions] = part @ directions[:n_directions].T
        coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
        block = slice(facet * d, (facet + 1) * d)
        with torch.no_grad():
            encoder.mean.weight[block] = 0.0
            encoder.mean.bias[block] = as_parameter(coefficients[-1])
            encoder.skip.weight[block] = as_parameter(coefficients[:-1].T)
        variances = start_mixture(prior.facets[facet], design @ coefficients, seed,
                                  facet_labels)
        log_vars.append(np.full(d, np.log(variances.mean() / 4.0)))
    with torch.no_grad():
        encoder.log_var.weight.zero_()
        encoder.log_var.bias.copy_(as_parameter(np.concatenate(log_vars)))
    return labels


def column_facet_labels(columns, row_facet_labels, cluster_counts, seed):
    """Column labels of each facet from the columns' profiles over that facet's row clusters.

    Column facet j must be the partition that row facet j's clusters link to: the
    mutual-information term and the per-cell model pair row and column clusters of facet 1.
    A factorial k-means of the columns alone would order their facets arbitrarily (and a
    column usually answers to one facet only, so its facets are not independent), and the
    mutual-information term would then mix another facet's partition into facet 1 of the
    rows. Here column c's profile in facet j is its mean value over each row cluster of
    facet j, centred; the columns the facet does not affect have flat profiles and form
    one cluster.

    Parameters
    ----------
    columns : SideData
        The columns (rows of ``A^T``).
    row_facet_labels : ndarray of shape (n_facets, n_rows)
    cluster_counts : sequence of int
        Column clusters of each facet.
    seed : int

    Returns
    -------
    labels : ndarray of shape (n_facets, n_columns)
    """
    labels = []
    for facet_labels, n_clusters in zip(row_facet_labels, cluster_counts):
        one_hot = np.eye(facet_labels.max() + 1)[facet_labels]
        sizes = np.maximum(one_hot.sum(0), 1.0)
        resp = torch.as_tensor(one_hot / sizes, dtype=columns.values.dtype,
                               device=columns.values.device)
        profile = sparse_product(columns, resp, absolute=False).cpu().double().numpy()
        profile -= profile.mean(1, keepdims=True)
        labels.append(KMeans(min(n_clusters, columns.n_vectors), n_init=10,
                             random_state=seed).fit_predict(profile))
    return np.vstack(labels)
