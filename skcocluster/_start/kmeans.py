"""The k-means start of the deep latent block model's mixtures (docs/model.rst,
"Pretraining and initialisation")."""

import torch
from sklearn.cluster import KMeans

from .choice import StartDraw, choose_start_pair

# k-means runs per side at the start; the pair kept is chosen by held-out prediction
# (measured: benchmarks/README.md).
N_KMEANS_DRAWS = 10


def kmeans_start(model, data, config, seed, memberships=None):
    """Start both mixtures from one-hot memberships of the current posterior means.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    seed : int
        Seeds the k-means draws.
    memberships : callable, optional
        ``memberships(model, data, config, posteriors, seed) -> (row_resp, column_resp)``;
        :func:`kmeans_memberships` by default (the facets pass their factorial start).

    Returns
    -------
    row_resp, column_resp : Tensor
        The one-hot start memberships, to which the mixtures have been fitted.
    """
    if memberships is None:
        memberships = kmeans_memberships
    with torch.no_grad():
        posteriors = model.encode(data.adjacency, data.adjacency_t)
    row_mean, row_log_var, column_mean, column_log_var = posteriors
    row_resp, column_resp = memberships(model, data, config, posteriors, seed)
    model.row_prior.update(row_resp, row_mean, row_log_var)
    model.column_prior.update(column_resp, column_mean, column_log_var)
    return row_resp, column_resp


def kmeans_memberships(model, data, config, posteriors, seed):
    """The pair of k-means partitions that best predicts held-out cells.

    ``N_KMEANS_DRAWS`` k-means runs per side, one k-means++ draw each; the pair kept is
    the one that best predicts held-out cells under the block model
    (:func:`~skcocluster._start.choice.choose_start_pair`), not the one of least inertia:
    on imbalanced blocks the least inertia is often a balanced cut.

    Parameters
    ----------
    model : DeepLatentBlockModel
        Unused; the signature is that of every start of :func:`kmeans_start`.
    data : TrainingData
    config : TrainingConfig
    posteriors : tuple of Tensor
        Row mean, row log-variance, column mean, column log-variance.
    seed : int

    Returns
    -------
    row_resp, column_resp : Tensor
        One-hot memberships on the device of the posteriors.
    """
    row_mean, _, column_mean, _ = posteriors
    row_draw, column_draw = choose_start_pair(
        data.csr, config.likelihood,
        kmeans_draws(row_mean, config.n_row_clusters, seed, N_KMEANS_DRAWS),
        kmeans_draws(column_mean, config.n_column_clusters, seed, N_KMEANS_DRAWS))
    return (_one_hot(row_draw.labels, config.n_row_clusters, row_mean),
            _one_hot(column_draw.labels, config.n_column_clusters, column_mean))


def kmeans_draws(mean, n_clusters, seed, n_draws):
    """``n_draws`` k-means runs, one k-means++ draw each (seeds seed, seed + 1, ...).

    Parameters
    ----------
    mean : Tensor of shape (n, D)
    n_clusters : int
    seed : int
    n_draws : int

    Returns
    -------
    draws : list of StartDraw
        Each draw's bound is minus its inertia.
    """
    points = mean.detach().cpu().double().numpy()
    draws = []
    for draw in range(n_draws):
        kmeans = KMeans(n_clusters, n_init=1, random_state=seed + draw).fit(points)
        draws.append(StartDraw(kmeans.labels_, n_clusters, -float(kmeans.inertia_)))
    return draws


def _one_hot(labels, n_clusters, like):
    """One-hot memberships (n, n_clusters) on the device and dtype of ``like``.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
    n_clusters : int
    like : Tensor of shape (n, ...)

    Returns
    -------
    resp : Tensor of shape (n, n_clusters)
    """
    resp = torch.zeros(like.shape[0], n_clusters, dtype=like.dtype, device=like.device)
    resp[torch.arange(like.shape[0]), torch.as_tensor(labels, device=like.device)] = 1.0
    return resp
