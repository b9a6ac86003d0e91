"""Training of VariationalCoclustering: data preparation, pretraining, the Gaussian-mixture
start, the joint mini-batch loop, stopping and restarts (``design/variational.md``,
"Objective and training").

The objective, in nats of the whole matrix (reported divided by the number of cells)::

    J = w_row  sum_i bound_i  + lambda M I_NCE^row
      + w_col  sum_j bound_j  + lambda P I_NCE^col
      + w_cell sum_ij bound_ij + lambda_w nnz(A) I_NCE^cell
      + beta sum(|A|) I(p^)
      - graph_weight (R_rows + R_cols)          (only with graph_weight > 0)

Each step estimates it without bias from a batch of rows, a batch of columns and a sample of
cells (all nonzeros of the row batch, capped, plus uniformly drawn zero cells, each group
reweighted to its count). ``I(p^)`` is computed on the full sparse matrix: the memberships of
the rows and columns outside the batch are those of the start of the epoch. ``R`` is the
neighbour-graph regulariser (``_neighbour_graph.py``), estimated from the edges leaving the
step's batches.
"""

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans

from .._start.factorial import additive_tables, factorial_kmeans
from .._options.neighbour_graph import batch_graph_divergence
from .._likelihoods import make_likelihood
from .._data.variational import (CHUNK, VariationalData, draw_cells, epoch_batches, gather,
                                 normalised_inputs, prepare_data, sampled_items, side_data,
                                 side_first_layer, side_memberships, sparse_product,
                                 spectral_directions)
from .._nn.vae import (LearntFacetMixture, VariationalCoclusteringModule,
                      mutual_information, vector_log_likelihood)
from .._start.choice import choose_start_pair
from .._start.mixtures import fit_mixture, fit_mixtures, set_mixture_start, set_prior

# Re-exported for the estimator and the tests, which import them from here.
__all__ = ["CHUNK", "normalised_inputs", "prepare_data", "side_data", "spectral_directions"]

# Epochs compared by the stopping rule: the mean objective of the last WINDOW epochs
# against the WINDOW before (a smoothed objective: one epoch's estimate is noisy).
STOPPING_WINDOW = 5
# Seed of the draws of the final objective, so restarts are compared on the same noise.
FINAL_OBJECTIVE_SEED = 12345
# Cells of a batch that enter the cell-level InfoNCE (its cost is quadratic in this).
MAX_CONTRAST_CELLS = 256
# With init='spectral', the random part of the first layer is scaled by this.
SPECTRAL_RANDOM_SCALE = 0.05
TERMS = ("row_bound", "column_bound", "cell_bound", "row_contrast", "column_contrast",
         "cell_contrast", "mutual_information")


@dataclass
class VariationalConfig:
    """Everything the training loop needs from the estimator's parameters."""

    n_row_clusters: int
    n_column_clusters: int
    n_cell_clusters: int
    latent_dim: int
    cell_latent_dim: int
    hidden_dim: int
    n_samples: int
    gradient: str
    batch_size: int
    n_sampled_items: int
    cells_per_batch: int
    pretrain_epochs: int
    max_iter: int
    learning_rate: float
    weight_decay: float
    tol: float
    temperature: float
    init: str
    row_weight: float
    column_weight: float
    cell_weight: float
    contrast_weight: float
    cell_contrast_weight: float
    mi_weight: float
    likelihood: str
    # graph_weight > 0: a _neighbour_graph.GraphRegulariser (None: no graph term)
    graph: object = None
    # n_facets > 1: (n_row_clusters, n_column_clusters) of each facet (None: one facet)
    facet_counts: object = None

    def side_clusters(self, side):
        """The side's cluster count, or its list of counts per facet."""
        if self.facet_counts is None:
            return self.n_row_clusters if side == "row" else self.n_column_clusters
        return [counts[side == "column"] for counts in self.facet_counts]


@dataclass
class VariationalFit:
    """The outcome of one restart."""

    model: VariationalCoclusteringModule
    objective: float
    terms: dict
    history: list
    pretrain_history: list
    n_iter: int
    converged: bool
    seconds: float

    @property
    def lower_bound(self):
        """The final objective per cell (named as the deep LBM's for the progress lines)."""
        return self.objective


# ---------------------------------------------------------------------------- data


# ---------------------------------------------------------------------------- model setup
def build_model(data, config, seed, device):
    """A fresh module, its first layers started from the spectral directions if asked."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VariationalCoclusteringModule(
            data.rows.n_vectors, data.columns.n_vectors, config.side_clusters("row"),
            config.side_clusters("column"), config.n_cell_clusters, config.latent_dim,
            config.cell_latent_dim, config.hidden_dim)
    for side, directions in (("row", data.row_spectral), ("column", data.column_spectral)):
        if directions is not None and directions.shape[1]:
            weight = model.side(side).encoder.first.weight.weight
            with torch.no_grad():
                # The random part starts small, so the spectral coordinates dominate.
                weight.mul_(SPECTRAL_RANDOM_SCALE)
                weight[:, :directions.shape[1]] = torch.as_tensor(directions)
                model.side(side).encoder.first.bias.zero_()
            model.side(side).encoder.start_from_first_layer(directions.shape[1])
    start_decoder_offsets(model, data)
    return model.to(device)


def start_decoder_offsets(model, data):
    """Start every decoder at the data's marginals: the output bias of item j at the link of
    item j's mean (its column mean for the row decoder, its row mean for the column
    decoder), the cell decoder's at the link of the matrix mean.

    On sparse data the marginal logit is far from 0 (-6.9 at density 0.001); started at 0,
    the decoders spend their first thousands of Adam steps learning it, and their gradients
    through z meanwhile move the encoders away from the Gaussian-mixture start.
    """
    with torch.no_grad():
        model.rows.decoder.output_bias.copy_(torch.as_tensor(data.row_item_eta))
        model.columns.decoder.output_bias.copy_(torch.as_tensor(data.column_item_eta))
        model.cells.decoder[-1].bias.fill_(data.cell_eta)


def pretrain_side(model, side, data_side, config, likelihood, generator, device, progress):
    """Autoencoder pretraining of one side (``z = mu(a)``); returns per-epoch losses.

    With ``init='spectral'`` only the decoder learns: the encoder stays at its spectral
    start, whose latent means carry the clusters (the embedding spectral co-clustering
    clusters), so the Gaussian-mixture start is fitted on them. Training the encoder too
    let Adam's steps (each about ``learning_rate`` per weight, against spectral weights of
    a few hundredths) overwrite them: on the imbalanced 1000 x 600 planted case the
    mixture start fell from row ARI 0.89 (spectral) to 0.44 after 30 epochs.
    With ``init='random'`` the encoder and the decoder learn together.
    """
    vae = model.side(side)
    parameters = list(vae.decoder.parameters())
    if config.init != "spectral":
        parameters += list(vae.encoder.parameters())
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    history = []
    n = data_side.n_vectors
    for epoch in range(config.pretrain_epochs):
        total = 0.0
        for ids in torch.randperm(n, generator=generator, device=device).split(config.batch_size):
            batch = gather(data_side, ids)
            mean, _ = vae.encoder(batch)
            items = sampled_items(data_side, config.n_sampled_items, batch, generator, device)
            log_lik = vector_log_likelihood(vae.decoder, likelihood, mean.unsqueeze(0), batch,
                                            items, data_side.n_items)
            loss = -log_lik.sum() / (n * data_side.n_items) * (n / ids.numel())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(log_lik.detach().sum())
        history.append(total / (n * data_side.n_items))
        progress.update(f"pretrain {side}s", epoch, history[-1])
    return history


def pretrain_cells(model, ctx, progress):
    """Warm up the per-cell model alone, the side encoders fixed; returns per-epoch values.

    The joint cell bound counts every cell of the matrix, so while the cell model is still
    at its random start its gradients through ``z_i`` and ``z_j`` outweigh the side terms
    and drag the side latents away from their Gaussian-mixture start (measured: the row
    partition fell from ARI 0.98 to 0.42 in the first joint epochs on a 10000 x 2000 sparse
    planted matrix, and not with the cell terms off). Trained first with the side latents
    held fixed, it starts the joint phase near its own optimum.
    """
    config, data = ctx.config, ctx.data
    if config.cell_weight == 0 and config.cell_contrast_weight == 0:
        return []
    optimizer = torch.optim.Adam(model.cells.parameters(), lr=config.learning_rate)
    n_rows, n_cells = data.rows.n_vectors, data.rows.n_vectors * data.rows.n_items
    history = []
    for epoch in range(config.pretrain_epochs):
        total = 0.0
        for row_ids in torch.randperm(n_rows, generator=ctx.generator,
                                      device=ctx.device).split(config.batch_size):
            row_batch = gather(data.rows, row_ids)
            with torch.no_grad():
                mean, log_var = model.rows.encoder(row_batch)
                eps = torch.randn(mean.shape, generator=ctx.generator, device=ctx.device)
                z_rows = mean + (0.5 * log_var).exp() * eps
            bound, contrast = cell_terms(model, ctx, row_ids, row_batch, z_rows,
                                         fixed_sides=True)
            objective = 0.0
            if bound is not None:
                objective = objective + config.cell_weight * bound * (n_rows / row_ids.numel())
            if contrast is not None:
                objective = objective + config.cell_contrast_weight * contrast * data.n_nonzero
            if not torch.is_tensor(objective):
                continue
            optimizer.zero_grad()
            (-objective / n_cells).backward()
            optimizer.step()
            total += float(objective.detach()) * row_ids.numel() / n_rows
        history.append(total / n_cells)
        progress.update("pretrain cells", epoch, history[-1])
    return history


def start_mixtures(model, data, config, seed, device):
    """Start both mixture priors from Gaussian mixtures on the latent means, choosing the
    pair of row and column mixtures by held-out prediction (``_variational_start``,
    ``_start.choice.choose_start_pair``)."""
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
    """Start both sides when they have several facets (:func:`facet_mixture_start`): the
    rows from a factorial k-means, then the columns from their profiles over each row
    facet's clusters (:func:`column_facet_labels`), so that column facet j pairs with row
    facet j."""
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
    prior : GaussianMixturePrior
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
    (``_facets.additive_tables``), with labels from a factorial k-means of the means
    (``_facets.factorial_kmeans``) unless given. Facet j's block of the mean head is then
    set to the least-squares linear map from the first layer's outputs to the principal
    coordinates of ``C^j[l_j(i)]`` (its part of each mean), so that block j starts with
    partition j alone: a plain mixture on the spectral coordinates, which hold every
    partition, would fit a mix of them. Each facet's mixture is then fitted on its block,
    started from its labels.

    Parameters
    ----------
    vae : SideVAE
        With a :class:`FacetMixturePrior`.
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
    column usually answers to one facet only, so its facets are not independent): on
    planted data it gave facet 1 of the columns the other facet's column clusters, and the
    mutual-information term then mixed that facet's partition into facet 1 of the rows.
    Here column c's profile in facet j is its mean value over each row cluster of facet j,
    centred; the columns the facet does not affect have flat profiles and form one cluster.

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


# ---------------------------------------------------------------------------- one step
@dataclass
class StepContext:
    """What a step needs besides its batches (fixed over an epoch)."""

    data: VariationalData
    config: VariationalConfig
    likelihood: object
    generator: torch.Generator
    device: torch.device
    mi_cache: object = None
    # Epoch of joint training (sets the graph weight's warm-up); None: full weight.
    epoch: object = None


@dataclass
class MembershipCache:
    """Memberships at the start of the epoch and the products that make ``I(p^)`` exact.

    ``row_resp`` (M, L), ``column_resp`` (P, Q), ``a_delta = |A| column_resp`` (M, Q),
    ``gamma_a = row_resp^T |A|`` (L, P), ``joint = row_resp^T |A| column_resp`` (L, Q).
    """

    row_resp: torch.Tensor
    column_resp: torch.Tensor
    a_delta: torch.Tensor
    gamma_a: torch.Tensor
    joint: torch.Tensor


def membership_cache(model, data, device):
    """Exact ``Gamma^T |A| Delta`` from the current memberships: one sparse pass."""
    _, row_resp = side_memberships(model, "row", data.rows, device)
    _, column_resp = side_memberships(model, "column", data.columns, device)
    a_delta = sparse_product(data.rows, column_resp)
    gamma_a = sparse_product(data.columns, row_resp).T
    return MembershipCache(row_resp, column_resp, a_delta, gamma_a, row_resp.T @ a_delta)


def straight_through(cached, fresh, scale):
    """``fresh`` in value, ``scale`` times its gradient (the batch's share of the total)."""
    delta = fresh - cached
    return cached + delta.detach() + scale * (delta - delta.detach())


def mutual_information_term(ctx, row_ids, row_batch, row_resp, column_ids, column_resp):
    """``I(p^)`` on the full matrix with the fresh memberships of the batch.

    ``joint = G^T |A| D`` with G, D the cached memberships where the batch's rows and columns
    are replaced by their fresh values: four small products, no pass over A.
    """
    cache = ctx.mi_cache
    n_rows, n_cols = ctx.data.rows.n_vectors, ctx.data.columns.n_vectors
    d_row = straight_through(cache.row_resp[row_ids], row_resp, n_rows / row_ids.numel())
    d_row = d_row - cache.row_resp[row_ids]
    joint = cache.joint + d_row.T @ cache.a_delta[row_ids]
    if column_resp is not None:
        d_col = straight_through(cache.column_resp[column_ids], column_resp,
                                 n_cols / column_ids.numel())
        d_col = d_col - cache.column_resp[column_ids]
        joint = joint + cache.gamma_a[:, column_ids] @ d_col
        position = torch.full((n_cols,), -1, dtype=torch.int64, device=ctx.device)
        position[column_ids] = torch.arange(column_ids.numel(), device=ctx.device)
        inside = position[row_batch.indices] >= 0
        weighted = d_row[row_batch.owner[inside]] * row_batch.values[inside].abs().unsqueeze(1)
        joint = joint + weighted.T @ d_col[position[row_batch.indices[inside]]]
    return mutual_information(joint)


def side_terms(model, side, ids, ctx, weight, contrast_weight):
    """Bound (or None), InfoNCE (or None), one differentiable sample of z, the batch and
    its fresh memberships for one side."""
    vae = model.side(side)
    data_side = ctx.data.rows if side == "row" else ctx.data.columns
    batch = gather(data_side, ids)
    config = ctx.config
    if weight > 0:
        items = sampled_items(data_side, config.n_sampled_items, batch, ctx.generator,
                              ctx.device)
        bound, z = vae.bound(batch, ctx.likelihood, items, config.n_samples, config.gradient,
                             ctx.generator)
        mean = None
        z = z[0]
    else:
        bound = None
        mean, log_var = vae.encoder(batch)
        eps = torch.randn(mean.shape, generator=ctx.generator, device=ctx.device)
        z = mean + (0.5 * log_var).exp() * eps
    contrast = None
    if contrast_weight > 0 and ids.numel() > 1:
        contrast = vae.contrast(batch, z, config.temperature)
    resp = None
    if config.mi_weight > 0:
        if mean is None:
            mean, _ = vae.encoder(batch)
        resp = vae.prior.responsibilities(mean)
    return bound, contrast, z, batch, resp


def cell_terms(model, ctx, row_ids, row_batch, z_rows, fixed_sides=False):
    """Weighted sum of the per-cell bounds and the cell-level InfoNCE (either may be None).

    With ``fixed_sides`` the column latents are drawn without gradient (``z_rows`` should
    then be detached too): only the cell model learns (its warm-up).
    """
    config = ctx.config
    local, cols, values, weights = draw_cells(ctx, row_ids, row_batch)
    if local.numel() == 0:
        return None, None
    unique_cols, inverse = torch.unique(cols, return_inverse=True)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not fixed_sides):
        mean, log_var = model.columns.encoder(gather(ctx.data.columns, unique_cols))
    eps = torch.randn(mean.shape, generator=ctx.generator, device=ctx.device)
    z_cols = (mean + (0.5 * log_var).exp() * eps)[inverse]
    zr = z_rows[local]
    bound = contrast = None
    w = None
    if config.cell_weight > 0:
        per_cell, w = model.cells.bound(zr, z_cols, values, ctx.likelihood, config.n_samples,
                                        config.gradient, ctx.generator)
        bound = (per_cell * weights).sum()
        w = w[0]
    if config.cell_contrast_weight > 0 and local.numel() > 1:
        if w is None:
            w_mean, w_log_var = model.cells.encode(zr, z_cols)
            eps = torch.randn(w_mean.shape, generator=ctx.generator, device=ctx.device)
            w = w_mean + (0.5 * w_log_var).exp() * eps
        pick = torch.randperm(local.numel(), generator=ctx.generator, device=ctx.device)[
            :MAX_CONTRAST_CELLS]
        contrast = model.cells.contrast(zr[pick], z_cols[pick], values[pick], w[pick],
                                        config.temperature)
    return bound, contrast


def step_objective(model, ctx, row_ids, column_ids):
    """The step's unbiased estimate of J.

    Returns
    -------
    objective : Tensor (scalar)
        What the step maximises (the graph term at its warm-up weight).
    reported : float
        The estimate of J reported (the graph term at its full weight).
    terms : dict of str to float
        The unweighted terms.
    """
    config = ctx.config
    n_rows, n_cols = ctx.data.rows.n_vectors, ctx.data.columns.n_vectors
    row_bound, row_nce, z_rows, row_batch, row_resp = side_terms(
        model, "row", row_ids, ctx, config.row_weight, config.contrast_weight)
    terms = {}
    if row_bound is not None:
        terms["row_bound"] = row_bound.sum() * (n_rows / row_ids.numel())
    if row_nce is not None:
        terms["row_contrast"] = row_nce * n_rows
    column_resp = None
    if column_ids.numel():
        col_bound, col_nce, _, _, column_resp = side_terms(
            model, "column", column_ids, ctx, config.column_weight, config.contrast_weight)
        if col_bound is not None:
            terms["column_bound"] = col_bound.sum() * (n_cols / column_ids.numel())
        if col_nce is not None:
            terms["column_contrast"] = col_nce * n_cols
    if config.cell_weight > 0 or config.cell_contrast_weight > 0:
        cell_bound, cell_nce = cell_terms(model, ctx, row_ids, row_batch, z_rows)
        if cell_bound is not None:
            terms["cell_bound"] = cell_bound * (n_rows / row_ids.numel())
        if cell_nce is not None:
            terms["cell_contrast"] = cell_nce * ctx.data.n_nonzero
    if config.mi_weight > 0 and ctx.mi_cache is not None and ctx.data.total_mass > 0:
        terms["mutual_information"] = ctx.data.total_mass * mutual_information_term(
            ctx, row_ids, row_batch, row_resp, column_ids, column_resp)
    if config.graph is not None:
        terms["graph_divergence"] = graph_term(model, ctx, row_ids, column_ids)
    weights = term_weights(config, ctx.epoch)
    objective = sum(weights[name] * value for name, value in terms.items())
    reported = float(objective.detach())
    if config.graph is not None:
        # Reported with the full weight, so that J does not fall merely because the
        # weight is being raised (which would stop training early), as the deep LBM does.
        reported -= ((config.graph.weight - config.graph.weight_at(ctx.epoch))
                     * float(terms["graph_divergence"].detach()))
    return objective, reported, {name: float(value.detach()) for name, value in terms.items()}


def graph_term(model, ctx, row_ids, column_ids):
    """The step's estimate of ``R_rows + R_cols`` (``_neighbour_graph.batch_graph_divergence``).

    The regulariser couples each node to its neighbours, which are mostly outside the batch;
    they are encoded too (their posteriors are what the term compares), and each edge is
    counted with its source, scaled by the batch's share of its side, so that the estimate
    is unbiased like the step's other terms. The memberships are those of
    ``row_memberships_``, ``p(l | z = mu(a))``, differentiable in the encoder and the mixture.
    """
    total = 0.0
    for side, ids in (("row", row_ids), ("column", column_ids)):
        if ids.numel() == 0:
            continue
        vae = model.side(side)
        data_side = ctx.data.rows if side == "row" else ctx.data.columns
        edges = ctx.config.graph.rows if side == "row" else ctx.config.graph.columns

        def posteriors_of(nodes, vae=vae, data_side=data_side):
            mean, log_var = vae.encoder(gather(data_side, nodes))
            return mean, log_var, vae.prior.responsibilities(mean)

        total = total + batch_graph_divergence(edges, ids, data_side.n_vectors, posteriors_of)
    return total


def term_weights(config, epoch=None):
    """The weight of each term of J (the graph term's at ``epoch`` of its warm-up)."""
    weights = {"row_bound": config.row_weight, "column_bound": config.column_weight,
               "cell_bound": config.cell_weight, "row_contrast": config.contrast_weight,
               "column_contrast": config.contrast_weight,
               "cell_contrast": config.cell_contrast_weight,
               "mutual_information": config.mi_weight}
    if config.graph is not None:
        weights["graph_divergence"] = -config.graph.weight_at(epoch)
    return weights


# ---------------------------------------------------------------------------- loops
def train_epoch(model, optimizer, ctx):
    """One pass of Adam steps over all rows and columns; the epoch's J per cell and terms."""
    return _objective_pass(model, ctx, optimizer)


def final_objective(model, ctx):
    """J per cell and its terms over one ordered pass, with a fixed draw (no gradient)."""
    ctx.generator = torch.Generator(device=ctx.device).manual_seed(FINAL_OBJECTIVE_SEED)
    ctx.epoch = None
    with torch.no_grad():
        return _objective_pass(model, ctx, None)


def _objective_pass(model, ctx, optimizer):
    """One pass over all rows and columns in batches: shuffled with an Adam step per batch
    when ``optimizer`` is given, in order without steps otherwise. Returns J per cell and
    its terms per cell, averaged over the batches."""
    n_cells = ctx.data.rows.n_vectors * ctx.data.rows.n_items
    if ctx.config.mi_weight > 0:
        ctx.mi_cache = membership_cache(model, ctx.data, ctx.device)
    batches = epoch_batches(ctx.data.rows.n_vectors, ctx.data.columns.n_vectors,
                            ctx.config.batch_size, ctx.generator, ctx.device,
                            shuffle=optimizer is not None)
    names = TERMS + (("graph_divergence",) if ctx.config.graph is not None else ())
    total, term_totals = 0.0, dict.fromkeys(names, 0.0)
    for row_ids, column_ids in batches:
        objective, value, terms = step_objective(model, ctx, row_ids, column_ids)
        if optimizer is not None:
            optimizer.zero_grad()
            (-objective / n_cells).backward()
            optimizer.step()
        total += value
        for name, value in terms.items():
            term_totals[name] += value
    n_steps = len(batches)
    return total / n_steps / n_cells, {k: v / n_steps / n_cells for k, v in term_totals.items()}


def has_converged(history, tol):
    """Smoothed stopping rule: the last window's mean improves on the one before by less
    than ``tol`` times its magnitude."""
    if len(history) < 2 * STOPPING_WINDOW:
        return False
    last = np.mean(history[-STOPPING_WINDOW:])
    before = np.mean(history[-2 * STOPPING_WINDOW:-STOPPING_WINDOW])
    return last - before < tol * abs(last)


def fit_once(data, config, seed, device, progress):
    """One restart: build, pretrain both sides, start the mixtures, warm up the cell model,
    train jointly."""
    started = time.perf_counter()
    model = build_model(data, config, seed, device)
    likelihood = make_likelihood(config.likelihood, data.noise_var)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    pretrain_history = []
    for side, data_side in (("row", data.rows), ("column", data.columns)):
        pretrain_history.append(pretrain_side(model, side, data_side, config, likelihood,
                                              generator, device, progress))
    start_mixtures(model, data, config, int(seed), device)
    ctx = StepContext(data, config, likelihood, generator, device)
    pretrain_cells(model, ctx, progress)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    history, converged = [], False
    for epoch in range(config.max_iter):
        ctx.epoch = epoch
        value, _ = train_epoch(model, optimizer, ctx)
        if not np.isfinite(value):
            raise FloatingPointError("the objective became non-finite")
        history.append(value)
        progress.update("train", epoch, value)
        if has_converged(history, config.tol):
            converged = True
            break
    objective, terms = final_objective(model, ctx)
    return VariationalFit(model=model, objective=objective, terms=terms, history=history,
                          pretrain_history=pretrain_history, n_iter=len(history),
                          converged=converged, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------- diagnostics
def encoder_gradient_draws(model, data, config, row_ids, n_draws, seed, device):
    """Gradients of the row bound w.r.t. the row encoder's output heads over ``n_draws``
    independent draws (same parameters, same batch): to compare DReG with the plain IWAE
    gradient (their mean should agree, their spread differ).

    Returns
    -------
    grads : ndarray of shape (n_draws, n_parameters)
    """
    likelihood = make_likelihood(config.likelihood, data.noise_var)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    vae = model.rows
    heads = list(vae.encoder.mean.parameters()) + list(vae.encoder.log_var.parameters())
    batch = gather(data.rows, row_ids)
    items = torch.arange(data.rows.n_items, device=device)
    draws = []
    for _ in range(n_draws):
        bound, _ = vae.bound(batch, likelihood, items, config.n_samples, config.gradient,
                             generator)
        grads = torch.autograd.grad(bound.sum(), heads)
        draws.append(torch.cat([g.reshape(-1) for g in grads]).cpu().numpy())
    return np.stack(draws)
