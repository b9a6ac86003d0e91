"""Several facets (``n_facets``): their cluster counts, the progressive training schedule,
and the per-facet results (options.md, section 3; the torch side is ``_nn/facets.py``).

Progressive training: pretraining trains facet 1 alone (its mixture then starts from a
factorial k-means, :func:`facet_start_resp`); from the first epoch of the alternating
phase, facet 2's distance contribution and KL weight ramp linearly from 0 to 1 over
``facet_fade_epochs`` epochs (it starts as a copy of what the earlier facets' mixtures
leave out, :func:`start_from_residual`), then facet 3's, and so on. From epoch
``(n_facets - 1) * facet_fade_epochs - 1`` on every facet has weight 1, the model is the
plain multi-facet ELBO, and only then may the stopping rules end training.
"""

import warnings

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from .._data.validation import check_cluster_counts, check_n_clusters
from .._likelihoods import EPS, as_likelihood, make_likelihood
from .._nn.facet_mixture import FacetMixturePrior

# Two facets whose row partitions agree at least this much (ARI) count as the same one.
DUPLICATE_FACET_ARI = 0.9
# With several facets, most columns answer to one facet only: in the others they form a
# cluster of their own, paired with no row cluster. An int entry of n_clusters gets it.
BACKGROUND_COLUMN_CLUSTERS = 1
# Stopping once the labels settle: over how many epochs, and the mean share of nodes
# that may change label from one epoch to the next.
LABEL_PATIENCE = 10
LABEL_CHANGE_TOLERANCE = 0.005
# Random starts of the factorisation in factorial k-means, and the largest cross partition
# it clusters first.
FACTORIAL_STARTS = 30
MAX_CROSS_CELLS = 64
# Conditional block refinement (block_refinement with facets): rounds over the two sides,
# and EM iterations per facet and start.
FACET_REFINE_ROUNDS = 3
FACET_REFINE_ITER = 30
# Newton steps of the additive natural parameters per M step, and their bound.
ADDITIVE_NEWTON_STEPS = 5
MAX_NATURAL = 30.0


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


def is_faceted(prior):
    """Whether a side's prior has several facets."""
    return isinstance(prior, FacetMixturePrior)


def factorial_kmeans(points, cluster_counts, seed, n_starts=FACTORIAL_STARTS):
    """Labels of an additive clustering ``points_i ~ sum_j C^j[l_j(i)]`` (factorial k-means).

    Plain k-means on positions that hold several independent partitions picks a mixture
    of them (it splits the widest direction first). Here k-means with ``prod_j K_j``
    clusters first finds the cells of the cross partition; their centroids are then
    factorised into one centroid table per facet by backfitting (each facet's table is
    the k-means of what the other facets leave), from random label assignments of the
    cells, keeping the best weighted sum of squares; the row labels follow their cell.
    When the cross partition would have more cells than ``MAX_CROSS_CELLS`` or than a
    fifth of the points, the cells are the points themselves.

    Parameters
    ----------
    points : ndarray of shape (n, d)
    cluster_counts : sequence of int
        ``K_j`` of each facet.
    seed : int

    Returns
    -------
    labels : ndarray of shape (n_facets, n)
    """
    rng = np.random.default_rng(seed)
    n_cells = int(np.prod(cluster_counts))
    if n_cells <= min(MAX_CROSS_CELLS, points.shape[0] // 5):
        cross = KMeans(n_cells, n_init=3, random_state=seed).fit(points)
        cells, cell_of_point = cross.cluster_centers_, cross.labels_
        weights = np.bincount(cell_of_point, minlength=n_cells).astype(float)
    else:
        cells, cell_of_point = points, np.arange(points.shape[0])
        weights = np.ones(points.shape[0])
    best, best_loss = None, np.inf
    for _ in range(n_starts):
        labels = np.vstack([rng.integers(k, size=cells.shape[0]) for k in cluster_counts])
        labels, loss = _backfit(cells, weights, labels, cluster_counts)
        if loss < best_loss:
            best, best_loss = labels, loss
    return best[:, cell_of_point]


def _backfit(points, weights, labels, cluster_counts, n_sweeps=50):
    """Backfitting sweeps of factorial k-means from given labels; returns labels and loss."""
    fitted = [_weighted_means(points, weights, l, k) for l, k in zip(labels, cluster_counts)]
    for _ in range(n_sweeps):
        previous = labels.copy()
        for j, n_clusters in enumerate(cluster_counts):
            others = sum(fitted[k][labels[k]] for k in range(len(fitted)) if k != j)
            residual = points - others
            centroids = _weighted_means(residual, weights, labels[j], n_clusters)
            labels[j] = ((residual[:, None, :] - centroids[None]) ** 2).sum(2).argmin(1)
            fitted[j] = _weighted_means(residual, weights, labels[j], n_clusters)
        if np.array_equal(previous, labels):
            break
    approximation = sum(table[l] for table, l in zip(fitted, labels))
    return labels, float((weights * ((points - approximation) ** 2).sum(1)).sum())


def _weighted_means(points, weights, labels, n_clusters):
    """Weighted mean of the points of each label (0 for an empty label)."""
    mass = np.bincount(labels, weights, minlength=n_clusters)
    sums = np.zeros((n_clusters, points.shape[1]))
    np.add.at(sums, labels, weights[:, None] * points)
    return sums / np.maximum(mass, 1e-12)[:, None]


def additive_tables(points, labels, cluster_counts, n_sweeps=20):
    """Centroid tables ``C^j`` of an additive clustering ``points_i ~ sum_j C^j[l_j(i)]``
    with fixed labels, by backfitting.

    Parameters
    ----------
    points : ndarray of shape (n, d)
    labels : ndarray of shape (n_facets, n)
    cluster_counts : sequence of int

    Returns
    -------
    tables : list of ndarray
        One table of shape (K_j, d) per facet.
    """
    fitted = [np.zeros((k, points.shape[1])) for k in cluster_counts]
    weights = np.ones(points.shape[0])
    for _ in range(n_sweeps):
        for j, n_clusters in enumerate(cluster_counts):
            others = sum(fitted[k][labels[k]] for k in range(len(fitted)) if k != j)
            fitted[j] = _weighted_means(points - others, weights, labels[j], n_clusters)
    return fitted


def additive_fit_loss(points, labels, cluster_counts, n_sweeps=20):
    """Share of the points' spread an additive clustering with fixed labels leaves out."""
    fitted = additive_tables(points, labels, cluster_counts, n_sweeps)
    approximation = sum(table[l] for table, l in zip(fitted, labels))
    total = ((points - points.mean(0)) ** 2).sum()
    return float(((points - approximation) ** 2).sum() / max(total, 1e-300))


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


def faded_positions(model, row_positions, column_positions):
    """Positions scaled so the decoder sees ``sum_j w_j ||X^j - Y^j||^2`` (no-op for J=1)."""
    if not isinstance(model.row_prior, FacetMixturePrior):
        return row_positions, column_positions
    return (model.row_prior.scale_positions(row_positions),
            model.column_prior.scale_positions(column_positions))


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
    Without facets this does nothing.
    """
    if config.facet_cluster_counts is None:
        return
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


class SettledLabels:
    """Stopping rule of the multi-facet model: the facets' labels have stopped moving.

    Once every facet has weight 1, training stops when, over the last ``LABEL_PATIENCE``
    epochs, on average at most ``LABEL_CHANGE_TOLERANCE`` of the nodes (rows and columns,
    all facets) changed label from one epoch to the next (a few boundary nodes keep
    flickering in a settled model). The ELBO's own rule rarely ends a multi-facet run:
    its bound keeps creeping up as each facet trades the spread of its rows against that
    of its columns, and that slow drift can end by squeezing a facet to nothing (measured
    on planted data; user guide, "Several facets"). Without facets it never fires.
    """

    def __init__(self, config):
        self.start = settled_epoch(config) if config.facet_cluster_counts is not None else None
        self.previous = None
        self.changes = []

    def __call__(self, epoch, row_resp, column_resp):
        """Record an epoch's memberships; True when the labels have settled."""
        if self.start is None or epoch < self.start:
            return False
        labels = np.concatenate([resp.argmax(1).cpu().numpy()
                                 for resp in (*row_resp, *column_resp)])
        if self.previous is not None:
            self.changes = (self.changes + [np.mean(labels != self.previous)])[-LABEL_PATIENCE:]
        self.previous = labels
        return (len(self.changes) == LABEL_PATIENCE
                and float(np.mean(self.changes)) <= LABEL_CHANGE_TOLERANCE)


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
    n_codes = int(codes.max()) + 1 if n_codes is None else n_codes
    return np.eye(n_codes)[codes]


def additive_natural_parameters(sums, counts, facet_part, context_part, likelihood,
                                n_steps=ADDITIVE_NEWTON_STEPS):
    """Fit ``theta[k, s, q] = a[k, q] + b[s, q]`` to block sums by Newton steps.

    The natural parameter of the cells of facet cluster ``k``, context ``s`` and column
    cluster ``q`` is additive in the facet's cluster and in the context: a facet's
    cluster then means the same in every context. Without this tie, a label permutation
    within one context leaves the likelihood unchanged, and EM settled on partitions
    permuted differently per context (measured: ARI 0.55 at the same likelihood as the
    planted partition). Exact for planted data where each column follows one facet.

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
    label in one facet determines the others), and refining them the same way was
    measured to scramble facet 1's column partition.

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


def refine_facet_memberships(estimator, csr, fit, seed):
    """``block_refinement`` with several facets: refine the rows' facets, refit their mixtures.

    Bernoulli and Poisson likelihoods only: with ``likelihood='gaussian'`` the deep
    memberships are kept.

    Parameters
    ----------
    estimator : DeepLatentBlockCoclustering
        Fitted model stored (``_store_fit``); ``_refined_facets`` is set here.
    csr : csr_matrix of shape (M, P)
    fit : SingleFit
    seed : int

    Returns
    -------
    row_resp, column_resp : ndarray
        Facet 1's refined row memberships and its (unchanged) column memberships.
    """
    model = estimator.module_
    with torch.no_grad():
        rows = [r.double().numpy()
                for r in model.row_prior.facet_responsibilities(*estimator._row_posterior)]
        columns = [r.double().numpy() for r in
                   model.column_prior.facet_responsibilities(*estimator._column_posterior)]
    rows[0] = fit.row_resp.cpu().double().numpy()
    columns[0] = fit.column_resp.cpu().double().numpy()
    if make_likelihood(estimator.likelihood_).real_valued:
        return rows[0], columns[0]
    n_column_clusters = int(np.prod([resp.shape[1] for resp in columns]))
    rows = refine_facets(csr, rows, n_column_clusters, estimator.likelihood_, seed)
    model.row_prior.update([torch.as_tensor(r, dtype=torch.float32) for r in rows],
                           *estimator._row_posterior)
    estimator._refined_facets = (rows, columns)
    estimator._store_mixtures()
    return rows[0], columns[0]


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


def store_facet_attributes(estimator):
    """Set the per-facet fitted attributes of a fitted deep LBM (also for one facet)."""
    model = estimator.module_
    memberships = {}
    for side, posterior in (("row", estimator._row_posterior),
                            ("column", estimator._column_posterior)):
        refined = getattr(estimator, "_refined_facets", None)
        memberships[side], kl = facet_results(
            getattr(model, f"{side}_prior"), posterior,
            getattr(estimator, f"{side}_memberships_"),
            None if refined is None else refined[side == "column"])
        setattr(estimator, f"{side}_facet_kl_", kl)
    store_facet_memberships(estimator, memberships["row"], memberships["column"])


def store_facet_memberships(estimator, row_memberships, column_memberships):
    """Set ``*_memberships_facets_``, ``*_labels_facets_``, ``facet_row_ari_`` (warning
    when two facets found the same row partition) and ``facet_column_ari_``.

    Parameters
    ----------
    estimator : fitted estimator
    row_memberships, column_memberships : list of ndarray
        One (n, K_j) array per facet; the first should be the reported memberships.
    """
    labels = {}
    for side, memberships in (("row", row_memberships), ("column", column_memberships)):
        labels[side] = [resp.argmax(1) for resp in memberships]
        setattr(estimator, f"{side}_memberships_facets_", memberships)
        setattr(estimator, f"{side}_labels_facets_", np.vstack(labels[side]))
    estimator.facet_row_ari_ = warn_on_duplicate_facets(labels["row"])
    estimator.facet_column_ari_ = agreement_matrix(labels["column"])
