"""Training of the deep latent block model: initialisation, pretraining, the alternating loop,
stopping, and the exact final bound used to compare restarts (model.md, "Pretraining and
initialisation", "Implicit step", "Stopping and restarts")."""

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._objective.reconstruction import gaussian_noise_variance, reconstruction_term, sample_positions
from .facets import (SettledLabels, begin_epoch, facet_start_memberships, faded_positions,
                     settled_epoch)
from .stopping import STOPPING_WINDOW, has_converged
from .._start.kmeans import kmeans_start
from .clustering_module import (alternate_with_modules, attach_modules,
                               final_state_with_modules, module_start)
from .._objective.graph import graph_terms
from .._likelihoods import make_likelihood
from .._nn.model import DeepLatentBlockModel, standard_normal_kl

# Pretraining pulls the positions only lightly towards N(0, I) (model.md, finding 5).
PRETRAIN_KL_WEIGHT = 1e-4
# The exact bound that ranks restarts uses this seed for its draw, so all restarts are
# compared on the same noise (common random numbers).
FINAL_BOUND_SEED = 12345
# A sampled final bound draws this many times the cells of a training epoch.
FINAL_SAMPLE_FACTOR = 4


@dataclass
class TrainingConfig:
    """Everything the training loop needs from the estimator's parameters."""

    n_row_clusters: int
    n_column_clusters: int
    latent_dim: int
    hidden_dim: int
    pretrain_epochs: int
    max_iter: int
    learning_rate: float
    tol: float
    log_var_floor: float
    share_first_layer: bool
    shared_variance: bool
    var_floor: float
    degree_correction: bool
    n_sampled_cells: object  # None (exact) or int
    likelihood: str = "bernoulli"
    # n_facets > 1: (n_row_clusters, n_column_clusters) of each facet (_facets.py)
    facet_cluster_counts: object = None
    facet_fade_epochs: int = 0
    # clustering='module': a _module_training.ModuleOptions (None: the closed-form step)
    clustering_module: object = None
    # graph_weight > 0: a _neighbour_graph.GraphRegulariser (None: no graph term)
    graph: object = None


@dataclass
class SingleFit:
    """The outcome of one restart."""

    model: DeepLatentBlockModel
    row_resp: torch.Tensor
    column_resp: torch.Tensor
    lower_bound: float
    history: list = field(default_factory=list)
    pretrain_history: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    seconds: float = 0.0
    start_row_resp: object = None
    start_column_resp: object = None


def first_layer_weights(singular, n_nodes, hidden_dim, init, generator, device):
    """Initial first-layer weights of one encoder, O(1) in size.

    ``init='spectral'`` uses ``sqrt(n) [U, -U]`` (both signs so the ReLU keeps the
    information, model.md finding 3) completed by random columns when there are fewer
    singular vectors than needed; ``'random'`` draws N(0, 1) weights.
    """
    # drawn where the generator lives (a CUDA generator cannot fill a CPU tensor), so a
    # given random_state gives the same start on the CPU whatever the training device
    weights = torch.randn(n_nodes, hidden_dim, generator=generator, device=generator.device)
    weights = weights.cpu()
    if init == "spectral":
        signed = np.hstack([singular, -singular])[:, :hidden_dim] * math.sqrt(n_nodes)
        weights[:, :signed.shape[1]] = torch.as_tensor(signed, dtype=torch.float32)
    return weights.to(device)


def spectral_mean_head(n_singular, hidden_dim, latent_dim, generator, skip_first=True):
    """Mean head that reads the leading non-trivial spectral directions off the features.

    With the spectral first layer ``[U, -U]`` the ReLU pair ``relu(x) - relu(-x) = x``
    recovers each singular direction linearly, so weights +1 / -1 on the pair of hidden
    units of direction k+1 make coordinate k of the initial position the (two-hop) spectral
    coordinate k+1; direction 0 (the square-root degrees) carries no cluster information.
    With ``skip_first=False`` (centred input, whose leading direction does carry the
    clusters) coordinate k reads direction k. Coordinates beyond the available directions
    get small random weights.
    """
    bound = (6.0 / (hidden_dim + latent_dim)) ** 0.5
    head = (torch.rand(hidden_dim, latent_dim, generator=generator) * 2 - 1) * bound * 0.1
    first = 1 if skip_first else 0
    for coordinate in range(min(latent_dim, n_singular - first)):
        direction = coordinate + first
        head[:, coordinate] = 0.0
        head[direction, coordinate] = 1.0
        if direction + n_singular < hidden_dim:
            head[direction + n_singular, coordinate] = -1.0
    return head


def build_model(data, config, init, generator, device):
    """A freshly initialised model for one restart."""
    n_rows, n_cols = data.row_means.shape[0], data.column_means.shape[0]
    likelihood = make_likelihood(config.likelihood, noise_var=max(data.variance, 1e-6))
    row_offsets = column_offsets = None
    alpha = float(likelihood.initial_eta(data.mean_value, n_rows * n_cols))
    if config.degree_correction:
        row_offsets = torch.as_tensor(likelihood.initial_eta(data.row_means, n_cols)
                                      - likelihood.initial_eta(data.mean_value, n_cols),
                                      dtype=torch.float32, device=device)
        column_offsets = torch.as_tensor(likelihood.initial_eta(data.column_means, n_rows)
                                         - likelihood.initial_eta(data.mean_value, n_rows),
                                         dtype=torch.float32, device=device)
    cpu_generator = _cpu_generator(generator)
    mean_head = None
    if init == "spectral":
        mean_head = spectral_mean_head(data.row_singular.shape[1], config.hidden_dim,
                                       config.latent_dim, cpu_generator,
                                       skip_first=data.skip_first_direction)
    model = DeepLatentBlockModel(
        first_layer_weights(data.row_singular, n_rows, config.hidden_dim, init, generator, device),
        first_layer_weights(data.column_singular, n_cols, config.hidden_dim, init, generator,
                            device),
        latent_dim=config.latent_dim, n_row_clusters=config.n_row_clusters,
        n_column_clusters=config.n_column_clusters, alpha_init=alpha,
        row_offset_init=row_offsets, column_offset_init=column_offsets,
        log_var_floor=config.log_var_floor, share_first_layer=config.share_first_layer,
        shared_variance=config.shared_variance, var_floor=config.var_floor,
        generator=cpu_generator, mean_head_init=mean_head,
        facet_cluster_counts=config.facet_cluster_counts)
    model.likelihood = likelihood
    model.calibrate(data.adjacency, data.adjacency_t)
    _centre_intercept(model, data)
    return model


@torch.no_grad()
def _centre_intercept(model, data):
    """Add the initial mean squared row-column distance to ``alpha``.

    ``eta = alpha - ||X - Y||^2`` then starts at the data's mean on average, instead of
    about one unit below it; otherwise the first epochs shrink every position to undo
    the offset and lose the structure of the start.
    """
    row_mean, _, column_mean, _ = model.encode(data.adjacency, data.adjacency_t)
    mean_sq_dist = (row_mean.pow(2).sum(1).mean() + column_mean.pow(2).sum(1).mean()
                    - 2.0 * row_mean.mean(0) @ column_mean.mean(0))
    model.decoder.alpha.add_(mean_sq_dist)


def _cpu_generator(generator):
    """A CPU generator derived from ``generator`` (head initialisation draws on CPU)."""
    seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator,
                             device=generator.device).item())
    return torch.Generator().manual_seed(seed)


def reconstruction(model, data, config, posteriors, generator):
    """One-draw estimate of ``E_q[log p(A | X, Y)]`` (exact or sampled all-cells sum)."""
    row_mean, row_log_var, column_mean, column_log_var = posteriors
    row_positions = sample_positions(row_mean, row_log_var, generator)
    column_positions = sample_positions(column_mean, column_log_var, generator)
    row_positions, column_positions = faded_positions(model, row_positions, column_positions)
    return reconstruction_term(model.decoder, model.likelihood, row_positions, column_positions,
                               data.cells, n_sampled_cells=config.n_sampled_cells,
                               generator=generator)


def update_noise_variance(model, data, posteriors):
    """Closed-form update of the Gaussian noise variance at the posterior means."""
    if model.likelihood.has_noise_variance:
        model.likelihood.noise_var = gaussian_noise_variance(
            model.decoder, posteriors[0].detach(), posteriors[2].detach(), data.cells)


def adam_optimizer(parameters, learning_rate):
    """Adam, fused into one kernel per step where this torch build offers it.

    The first layers hold one weight row per node (millions of weights at scale); the
    unfused CPU Adam makes a dozen passes over them per step, about as long as the rest of
    an epoch. Fused Adam exists for CUDA, and for the CPU from torch 2.4.
    """
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(parameters, lr=learning_rate)


class EpochLog:
    """The objective per epoch, read back from the device in batches.

    Reading a value makes the host wait for the device; doing it every epoch would drain a
    GPU's queue of work each time. Values stay on the device and are read every
    ``STOPPING_WINDOW`` epochs (the stopping rule needs no more), or every epoch when a
    progress display shows them.

    Parameters
    ----------
    progress : Progress
    phase : str
        Name of the phase shown by the progress display.
    """

    def __init__(self, progress, phase):
        self.progress = progress
        self.phase = phase
        self._values = []
        self._pending = []

    def add(self, value):
        """Record one epoch's value (a scalar tensor)."""
        self._pending.append(value)
        if self.progress.verbose >= 1 or len(self._pending) >= STOPPING_WINDOW:
            self._read_back()

    def _read_back(self):
        if not self._pending:
            return
        for value in torch.stack(self._pending).tolist():
            self.progress.update(self.phase, len(self._values), value)
            self._values.append(value)
        self._pending = []

    def values(self):
        """Every value recorded so far, as a list of float."""
        self._read_back()
        return self._values


def pretrain(model, data, config, generator, progress):
    """Train encoders and decoder as a graph autoencoder; returns the loss history."""
    optimizer = adam_optimizer(model.network_parameters(), config.learning_rate * 2)
    n_cells = data.cells.n_cells
    history = EpochLog(progress, "pretrain")
    for epoch in range(config.pretrain_epochs):
        optimizer.zero_grad(set_to_none=True)
        posteriors = model.encode(data.adjacency, data.adjacency_t)
        row_mean, row_log_var, column_mean, column_log_var = posteriors
        objective = reconstruction(model, data, config, posteriors, generator) - (
            PRETRAIN_KL_WEIGHT * (standard_normal_kl(row_mean, row_log_var)
                                  + standard_normal_kl(column_mean, column_log_var)))
        (-objective / n_cells).backward()
        optimizer.step()
        update_noise_variance(model, data, posteriors)
        history.add(objective.detach() / n_cells)
    return history.values()


def elbo(model, data, config, posteriors, row_resp, column_resp, generator):
    """The ELBO (a scalar tensor) with the mixture parameters held fixed."""
    row_mean, row_log_var, column_mean, column_log_var = posteriors
    return (reconstruction(model, data, config, posteriors, generator)
            + model.row_prior.prior_terms(row_resp, row_mean, row_log_var)
            + model.column_prior.prior_terms(column_resp, column_mean, column_log_var))


def alternate(model, data, config, generator, progress):
    """The alternating loop: explicit step then implicit (Adam) step, until convergence.

    Returns
    -------
    history : list of float
        ELBO per cell of each epoch.
    converged : bool
    """
    optimizer = adam_optimizer(model.network_parameters(), config.learning_rate)
    n_cells = data.cells.n_cells
    log = EpochLog(progress, "train")
    labels_settled = SettledLabels(config)
    for epoch in range(config.max_iter):
        begin_epoch(model, data, config, epoch, generator)
        optimizer.zero_grad(set_to_none=True)
        posteriors = model.encode(data.adjacency, data.adjacency_t)
        detached = [p.detach() for p in posteriors]
        row_resp = model.row_prior.explicit_step(detached[0], detached[1])
        column_resp = model.column_prior.explicit_step(detached[2], detached[3])
        bound = elbo(model, data, config, posteriors, row_resp, column_resp, generator)
        graph_train, graph_full = graph_terms(config, model, posteriors, epoch)
        (-(bound - graph_train) / n_cells).backward()
        optimizer.step()
        update_noise_variance(model, data, posteriors)
        log.add((bound.detach() - graph_full) / n_cells)
        # Tested once per window (not every epoch): same results with or without display.
        window_done = (epoch + 1) % STOPPING_WINDOW == 0
        if ((window_done and has_converged(log.values()[settled_epoch(config):], config.tol,
                                            STOPPING_WINDOW))
                or labels_settled(epoch, row_resp, column_resp)):
            return log.values(), True
    return log.values(), False


def final_bound_config(config):
    """The configuration of the final bound: the exact all-cells sum, unless training sampled.

    An exact sum visits every one of the M x P cells (1e9 and more at scale), so a sampled
    training gets a sampled final bound too, from ``FINAL_SAMPLE_FACTOR`` times as many
    cells: its relative error is then far below the differences between restarts.
    """
    n_sampled = config.n_sampled_cells
    return TrainingConfig(**{**config.__dict__, "n_sampled_cells": (
        None if n_sampled is None else FINAL_SAMPLE_FACTOR * n_sampled)})


@torch.no_grad()
def final_state(model, data, config):
    """Final memberships and the ELBO per cell.

    One explicit step, then the memberships under the updated mixtures, so that they are
    exactly what ``predict_proba`` gives on the training matrix. The all-cells sum is exact
    when the training's was; a matrix large enough to train on sampled cells gets it from a
    larger sample (:func:`final_bound_config`). The draws (positions and cells) use a fixed
    seed, so restarts are ranked on the same footing.
    """
    posteriors = model.encode(data.adjacency, data.adjacency_t)
    model.row_prior.explicit_step(posteriors[0], posteriors[1])
    model.column_prior.explicit_step(posteriors[2], posteriors[3])
    row_resp = model.row_prior.responsibilities(posteriors[0], posteriors[1])
    column_resp = model.column_prior.responsibilities(posteriors[2], posteriors[3])
    generator = torch.Generator(device=posteriors[0].device).manual_seed(FINAL_BOUND_SEED)
    exact = final_bound_config(config)
    bound = elbo(model, data, exact, posteriors, row_resp, column_resp, generator)
    bound = float(bound) - graph_terms(config, model, posteriors, None)[1]
    return row_resp, column_resp, bound / data.cells.n_cells


def fit_once(data, config, init, seed, device, progress):
    """One restart: initialise, pretrain, k-means start, alternate, final bound."""
    start = time.perf_counter()
    generator = torch.Generator(device=device).manual_seed(int(seed))
    model = build_model(data, config, init, generator, device)
    # The partition of the untrained encoders (for the spectral start, k-means on the
    # leading singular directions) is kept as a second start for the block refinement.
    memberships = None if config.facet_cluster_counts is None else facet_start_memberships
    start_resp = kmeans_start(model, data, config, int(seed), memberships)
    pretrain_history = pretrain(model, data, config, generator, progress)
    kmeans_start(model, data, config, int(seed), memberships)
    if config.clustering_module is None:
        history, converged = alternate(model, data, config, generator, progress)
        row_resp, column_resp, lower_bound = final_state(model, data, config)
    else:
        history, converged, (row_resp, column_resp, lower_bound) = train_with_modules(
            model, data, config, generator, progress, int(seed))
    return SingleFit(model=model, row_resp=row_resp, column_resp=column_resp,
                     lower_bound=lower_bound, history=history,
                     pretrain_history=pretrain_history, n_iter=len(history),
                     converged=converged, seconds=time.perf_counter() - start,
                     start_row_resp=start_resp[0], start_column_resp=start_resp[1])


def train_with_modules(model, data, config, generator, progress, seed):
    """``clustering='module'``: module start, joint training, final state.

    Replaces :func:`alternate` and :func:`final_state` (``_module_training.py``).

    Returns
    -------
    history : list of float
    converged : bool
    final : tuple
        ``(row_resp, column_resp, objective per cell)``.
    """
    attach_modules(model, config)
    module_start(model, data, seed)
    history, converged = alternate_with_modules(model, data, config, generator, progress,
                                                reconstruction=reconstruction,
                                                has_converged=_has_converged)
    final_generator = torch.Generator(device=generator.device).manual_seed(FINAL_BOUND_SEED)
    exact = final_bound_config(config)
    final = final_state_with_modules(model, data, exact, final_generator, reconstruction)
    return history, converged, final


def _has_converged(history, tol):
    return has_converged(history, tol, STOPPING_WINDOW)
