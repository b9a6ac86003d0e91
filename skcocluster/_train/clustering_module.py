"""Training with ``clustering='module'``: the AE-CM clustering module on each side in place
of the closed-form mixture step (design/options.md, 1).

After the usual pretraining:

1. start: each side's module is initialised on its pretrained posterior means (k-means++
   centroids as ``W_dec``, ``W_enc = pinv(W_dec)``, null biases), then warmed up alone
   (Adam on ``L_CM``, encoders frozen);
2. joint training: Adam on the encoders, the decoder and both modules, maximising
   ``reconstruction - L_CM(rows) - L_CM(columns)`` (the ELBO's mixture KL replaced by
   ``L_CM`` on the posterior means), with the module's standardisation refreshed each epoch;
3. an averaging epoch: a few more joint steps, after which each module's parameters are set
   to their mean over those steps (the seed's remedy for centroids that jitter);
4. final state: memberships ``G``, the exact objective per cell (ranks restarts), and the
   Gaussian-mixture buffers refitted to ``G`` so that ``row_means_`` etc. describe it.
"""

from dataclasses import dataclass

import torch

from .._objective.graph import graph_terms
from .._nn.clustering_module import ClusteringModule

# Adam steps and step size of the warm-up of the modules alone (cheap: no likelihood).
WARMUP_STEPS = 200
WARMUP_LEARNING_RATE = 0.05
# Joint steps averaged by the final averaging epoch.
AVERAGING_STEPS = 10


@dataclass
class ModuleOptions:
    """Hyper-parameters of the clustering modules (shared by both sides)."""

    concentration: float
    orthonormality: float


def attach_modules(model, config):
    """Give ``model`` a clustering module per side (``row_clustering``, ``column_clustering``).

    They are registered as sub-modules, so they are trained with the networks, moved with
    the model, and pickled with it.
    """
    options = config.clustering_module
    device = next(model.parameters()).device
    model.attach_clustering_modules(*(
        ClusteringModule(n_clusters, config.latent_dim, concentration=options.concentration,
                         orthonormality=options.orthonormality).to(device)
        for n_clusters in (config.n_row_clusters, config.n_column_clusters)))


def module_parameters(model):
    """The parameters of both clustering modules."""
    return list(model.row_clustering.parameters()) + list(model.column_clustering.parameters())


def module_start(model, data, seed):
    """Initialise both modules on the current posterior means, then warm them up."""
    with torch.no_grad():
        row_mean, _, column_mean, _ = model.encode(data.adjacency, data.adjacency_t)
    model.row_clustering.initialise(row_mean, seed)
    model.column_clustering.initialise(column_mean, seed)
    warm_up(model, row_mean, column_mean)


def warm_up(model, row_mean, column_mean, steps=WARMUP_STEPS):
    """Adam on the modules alone, the positions fixed (the encoders frozen)."""
    optimizer = torch.optim.Adam(module_parameters(model), lr=WARMUP_LEARNING_RATE)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = (model.row_clustering.loss(row_mean)[0] / row_mean.shape[0]
                + model.column_clustering.loss(column_mean)[0] / column_mean.shape[0])
        loss.backward()
        optimizer.step()


def objective(model, data, config, posteriors, generator, reconstruction):
    """``reconstruction - L_CM(rows) - L_CM(columns)`` and both sides' memberships.

    Returns
    -------
    value : Tensor (scalar)
    row_resp, column_resp : Tensor of shape (M, L) and (P, Q)
    """
    recon = reconstruction(model, data, config, posteriors, generator)
    row_loss, row_resp = model.row_clustering.loss(posteriors[0])
    column_loss, column_resp = model.column_clustering.loss(posteriors[2])
    return recon - row_loss - column_loss, row_resp, column_resp


def alternate_with_modules(model, data, config, generator, progress, *, reconstruction,
                           has_converged):
    """Joint training of networks and modules until convergence, then the averaging epoch.

    ``reconstruction`` and ``has_converged`` are the functions of ``_training`` (passed in
    to keep one implementation of each).

    Returns
    -------
    history : list of float
        Objective per cell of each epoch.
    converged : bool
    """
    optimizer = torch.optim.Adam(model.network_parameters(), lr=config.learning_rate)
    n_cells = data.cells.n_cells
    history = []
    converged = False
    for epoch in range(config.max_iter):
        value = _joint_step(model, data, config, generator, optimizer, epoch, reconstruction)
        history.append(value / n_cells)
        progress.update("train", epoch, history[-1])
        if has_converged(history, config.tol):
            converged = True
            break
    _averaging_epoch(model, data, config, generator, optimizer, len(history), reconstruction)
    return history, converged


def _joint_step(model, data, config, generator, optimizer, epoch, reconstruction):
    """One Adam step on everything; returns the objective (graph term at full weight)."""
    optimizer.zero_grad(set_to_none=True)
    posteriors = model.encode(data.adjacency, data.adjacency_t)
    model.row_clustering.set_standardisation(posteriors[0].detach())
    model.column_clustering.set_standardisation(posteriors[2].detach())
    value, row_resp, column_resp = objective(model, data, config, posteriors, generator,
                                             reconstruction)
    graph_train, graph_full = graph_terms(config, model, posteriors, epoch,
                                          row_resp, column_resp)
    (-(value - graph_train) / data.cells.n_cells).backward()
    optimizer.step()
    return float(value.detach()) - graph_full


def _averaging_epoch(model, data, config, generator, optimizer, epoch, reconstruction):
    """A few more joint steps; each module then takes its parameters' mean over them."""
    parameters = module_parameters(model)
    sums = [torch.zeros_like(p) for p in parameters]
    for step in range(AVERAGING_STEPS):
        _joint_step(model, data, config, generator, optimizer, epoch + step, reconstruction)
        for total, parameter in zip(sums, parameters):
            total += parameter.detach()
    with torch.no_grad():
        for total, parameter in zip(sums, parameters):
            parameter.copy_(total / AVERAGING_STEPS)


@torch.no_grad()
def final_state_with_modules(model, data, config, generator, reconstruction):
    """Memberships ``G``, the exact objective per cell, and the mixtures refitted to ``G``.

    Parameters
    ----------
    generator : torch.Generator
        The fixed-seed generator of the final draw (restarts are ranked on the same noise).
    reconstruction : callable
        ``_training.reconstruction``, called with an exact (non-sampled) config.
    """
    posteriors = model.encode(data.adjacency, data.adjacency_t)
    model.row_clustering.set_standardisation(posteriors[0])
    model.column_clustering.set_standardisation(posteriors[2])
    value, row_resp, column_resp = objective(model, data, config, posteriors, generator,
                                             reconstruction)
    _, graph_full = graph_terms(config, model, posteriors, None, row_resp, column_resp)
    model.row_prior.update(row_resp, posteriors[0], posteriors[1])
    model.column_prior.update(column_resp, posteriors[2], posteriors[3])
    return row_resp, column_resp, (float(value) - graph_full) / data.cells.n_cells
