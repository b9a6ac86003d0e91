"""Progressive training of several facets (docs/model.rst, "Facets"): the fade-in schedule,
the start of a facet that fades in, and the settled-labels stop, as callbacks of the loop."""

import numpy as np
import torch
from sklearn.cluster import KMeans

from .._start.factorial import _weighted_means, additive_fit_loss, factorial_kmeans
from .callbacks import Callback


# Stopping once the labels settle: over how many epochs, and the mean share of nodes
# that may change label from one epoch to the next.
LABEL_PATIENCE = 10
LABEL_CHANGE_TOLERANCE = 0.005


def fade_weights(epoch, n_facets, fade_epochs):
    """Fade-in weight of each facet at an epoch of the alternating phase.

    Facet 1 always has weight 1 (it trains alone during pretraining); facet ``j``
    (0-based, ``j >= 1``) ramps linearly over epochs ``[(j - 1) F, j F)`` and reaches 1 at
    the last of them.

    Returns
    -------
    weights : ndarray of shape (n_facets,)
    """
    facets = np.arange(n_facets)
    weights = np.clip((epoch + 1 - (facets - 1) * fade_epochs) / fade_epochs, 0.0, 1.0)
    weights[0] = 1.0
    return weights


def settled_epoch(config):
    """First epoch at which every facet has weight 1 (0 without facets)."""
    if config.facet_cluster_counts is None:
        return 0
    return (len(config.facet_cluster_counts) - 1) * config.facet_fade_epochs - 1


def facet_start_resp(prior, mean, seed):
    """One-hot facet-1 memberships from factorial k-means on facet 1's coordinates.

    Before the other facets fade in, facet 1 holds every structure; its mixture starts at
    its own part of the factorial clustering, so that the facets faded in later find the
    other partitions in what it leaves out (:func:`start_from_residual`). The labels of
    an earlier call (on the encoders' initial positions, which for the spectral start
    are the leading singular directions) are kept in ``prior.start_labels``; a later call
    (after pretraining) keeps whichever labelling explains the current positions better,
    as the factorisation is often cleaner on the spectral positions.

    Returns
    -------
    resp : Tensor of shape (n, K_1)
    """
    counts = [facet.means.shape[0] for facet in prior.facets]
    points = prior.block(mean, 0).detach().cpu().double().numpy()
    labels = factorial_kmeans(points, counts, seed)
    earlier = getattr(prior, "start_labels", None)
    if earlier is not None and (additive_fit_loss(points, earlier, counts)
                                < additive_fit_loss(points, labels, counts)):
        labels = earlier
    prior.start_labels = labels
    labels = labels[0]
    resp = torch.zeros(mean.shape[0], counts[0], dtype=mean.dtype, device=mean.device)
    resp[torch.arange(mean.shape[0]), torch.as_tensor(labels, device=mean.device)] = 1.0
    return resp


def facet_start_memberships(model, data, config, posteriors, seed):
    """Facet 1's start memberships of both sides (:func:`facet_start_resp`).

    The signature is that of every start of ``_start.kmeans.kmeans_start``.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
        Unused.
    config : TrainingConfig
        Unused.
    posteriors : tuple of Tensor
        Row mean, row log-variance, column mean, column log-variance.
    seed : int

    Returns
    -------
    row_resp, column_resp : Tensor
    """
    return (facet_start_resp(model.row_prior, posteriors[0], seed),
            facet_start_resp(model.column_prior, posteriors[2], seed))


def _facet_resp(prior, facet, block, n_clusters, seed):
    """Starting memberships of a facet that begins to fade in.

    Of k-means on the facet's coordinates and the facet's part of the factorial k-means
    start (``prior.start_labels``), the one with the smaller within-cluster sum of
    squares on those coordinates.

    Returns
    -------
    resp : Tensor of shape (n, n_clusters)
    """
    points = block.detach().cpu().double().numpy()
    kmeans = KMeans(n_clusters, n_init=3, random_state=seed).fit(points)
    labels = kmeans.labels_
    start_labels = getattr(prior, "start_labels", None)
    if start_labels is not None and _within_ss(points, start_labels[facet],
                                               n_clusters) < kmeans.inertia_:
        labels = start_labels[facet]
    resp = torch.zeros(block.shape[0], n_clusters, dtype=block.dtype, device=block.device)
    resp[torch.arange(block.shape[0], device=block.device),
         torch.as_tensor(labels, device=block.device)] = 1.0
    return resp


def _within_ss(points, labels, n_clusters):
    """k-means objective of given labels."""
    means = _weighted_means(points, np.ones(points.shape[0]), labels, n_clusters)
    return float(((points - means[labels]) ** 2).sum())


@torch.no_grad()
def begin_epoch(model, data, config, epoch, generator):
    """Set the fade-in weights of an epoch; start the mixtures of a facet that begins now.

    At the first epoch of its ramp a facet starts as a copy of what the earlier facets'
    mixtures leave out (:func:`start_from_residual`), and its mixtures from the better of
    k-means on its coordinates and its factorial k-means labels (:func:`_facet_resp`).

    Parameters
    ----------
    model : DeepLatentBlockModel
        With facet mixtures.
    data : TrainingData
    config : TrainingConfig
        ``config.facet_cluster_counts`` is set.
    epoch : int
    generator : torch.Generator
    """
    weights = fade_weights(epoch, len(config.facet_cluster_counts), config.facet_fade_epochs)
    starting = [j for j in range(1, weights.size)
                if weights[j] > 0 and model.row_prior.weights[j] == 0]
    if starting:
        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator,
                                 device=generator.device).item())
        for facet in starting:
            start_from_residual(model, data, facet)
        row_mean, row_log_var, column_mean, column_log_var = model.encode(
            data.adjacency, data.adjacency_t)
        for facet in starting:
            n_rows, n_columns = config.facet_cluster_counts[facet]
            for prior, mean, log_var, n_clusters in (
                    (model.row_prior, row_mean, row_log_var, n_rows),
                    (model.column_prior, column_mean, column_log_var, n_columns)):
                block = prior.block(mean, facet)
                prior.facets[facet].update(_facet_resp(prior, facet, block, n_clusters, seed),
                                           block, log_var)
    for prior in (model.row_prior, model.column_prior):
        prior.weights.copy_(torch.as_tensor(weights, dtype=prior.weights.dtype))


@torch.no_grad()
def residual_map(positions, prior, facet):
    """Linear map from the earlier facets' coordinates to what their mixtures leave out.

    With ``X`` the (centred) coordinates of facets ``1..facet-1`` of the rows and ``R``
    their residuals from the soft cluster means (``X^k - Gamma^k M^k`` in each facet), the
    least-squares map ``Q = argmin ||X Q - R||^2`` reproduces the within-cluster part of
    the earlier facets linearly; its ``d`` leading principal directions give the new facet's
    start.

    Returns
    -------
    transform : Tensor of shape ((facet) * d, d)
    """
    mean, log_var = positions
    earlier = mean[:, :facet * prior.facet_dim]
    earlier = earlier - earlier.mean(0)
    residuals = []
    for k in range(facet):
        block = prior.block(earlier, k)
        resp = prior.facets[k].responsibilities(block, log_var)
        means = (resp.T @ block) / resp.sum(0).clamp(min=1e-12)[:, None]
        residuals.append(block - resp @ means)
    residual = torch.cat(residuals, dim=1).double()
    earlier = earlier.double()
    gram = earlier.T @ earlier
    ridge = 1e-8 * gram.diagonal().mean().clamp(min=1e-12)
    fit = torch.linalg.solve(gram + ridge * torch.eye(gram.shape[0], dtype=gram.dtype,
                                                      device=gram.device),
                             earlier.T @ residual)
    _, _, right = torch.linalg.svd(earlier @ fit, full_matrices=False)
    return (fit @ right[:prior.facet_dim].T).to(mean.dtype)


@torch.no_grad()
def start_from_residual(model, data, facet):
    """Start facet ``facet`` (0-based) as a linear copy of the earlier facets' residual.

    Progressive training leaves facet 1 holding every structure of the data (its mixture
    only adds a weak pull towards its clusters), so a facet faded in from scratch finds
    nothing left to explain and dies. The new facet's mean heads (rows and columns, the
    same map, so that its distances are part of the earlier facets' distances) start as
    ``W_earlier @ Q`` with ``Q`` from :func:`residual_map`: the structure the earlier
    mixtures do not explain is then counted twice while the facet fades in, and the KL
    terms favour moving it out of the earlier facets rather than out of the new one.
    """
    row_mean, row_log_var, _, _ = model.encode(data.adjacency, data.adjacency_t)
    transform = residual_map((row_mean, row_log_var), model.row_prior, facet)
    dim = model.row_prior.facet_dim
    for encoder in (model.row_encoder, model.column_encoder):
        head = encoder.mean_head
        head[:, facet * dim:(facet + 1) * dim] = head[:, :facet * dim] @ transform


class FacetFadeIn(Callback):
    """Set each epoch's fade-in weights; start the facets that begin to fade in.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    generator : torch.Generator
        Draws the seed of a starting facet's k-means.
    """

    def __init__(self, model, data, config, generator):
        self.model = model
        self.data = data
        self.config = config
        self.generator = generator

    def on_epoch_begin(self, state):
        """:func:`begin_epoch` at ``state.epoch``.

        Parameters
        ----------
        state : EpochState
        """
        begin_epoch(self.model, self.data, self.config, state.epoch, self.generator)


class SettledLabels(Callback):
    """Stopping rule of the multi-facet model: the facets' labels have stopped moving.

    Once every facet has weight 1, training stops when, over the last ``LABEL_PATIENCE``
    epochs, on average at most ``LABEL_CHANGE_TOLERANCE`` of the nodes (rows and columns,
    all facets) changed label from one epoch to the next (a few boundary nodes keep
    flickering in a settled model). The ELBO's own rule rarely ends a multi-facet run:
    its bound keeps creeping up as each facet trades the spread of its rows against that
    of its columns, and that slow drift can end by squeezing a facet to nothing (user
    guide, "Several facets"). The ELBO's rule then reads the history from the first epoch
    at which every facet has weight 1.

    Parameters
    ----------
    config : TrainingConfig
    """

    def __init__(self, config):
        self.start = settled_epoch(config)
        self.previous = None
        self.changes = []

    def on_phase_begin(self, state):
        """Start the convergence rule's history at the settled epoch.

        Parameters
        ----------
        state : EpochState
        """
        state.stopping_start = self.start

    def should_stop(self, state):
        """Record the epoch's memberships; True when the labels have settled.

        Parameters
        ----------
        state : EpochState
            ``state.memberships`` holds a tuple of per-facet memberships for each side.

        Returns
        -------
        stop : bool
        """
        if state.epoch < self.start:
            return False
        row_resp, column_resp = state.memberships
        labels = np.concatenate([resp.argmax(1).cpu().numpy()
                                 for resp in (*row_resp, *column_resp)])
        if self.previous is not None:
            self.changes = (self.changes + [np.mean(labels != self.previous)])[-LABEL_PATIENCE:]
        self.previous = labels
        return (len(self.changes) == LABEL_PATIENCE
                and float(np.mean(self.changes)) <= LABEL_CHANGE_TOLERANCE)


def facet_callbacks(model, data, config, generator):
    """The callbacks of progressive training: the fade-in and the settled-labels stop.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    generator : torch.Generator

    Returns
    -------
    callbacks : list of Callback
    """
    return [FacetFadeIn(model, data, config, generator), SettledLabels(config)]
