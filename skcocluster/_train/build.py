"""A freshly initialised deep latent block model for one restart (docs/model.rst,
"Pretraining and initialisation")."""

import math

import numpy as np
import torch

from .._likelihoods import make_likelihood
from .._nn.model import DeepLatentBlockModel


def first_layer_weights(singular, n_nodes, hidden_dim, init, generator, device):
    """Initial first-layer weights of one encoder, O(1) in size.

    ``init='spectral'`` uses ``sqrt(n) [U, -U]`` (both signs so the ReLU keeps the
    information) completed by random columns when there are fewer singular vectors than
    needed; ``'random'`` draws N(0, 1) weights.

    Parameters
    ----------
    singular : ndarray of shape (n_nodes, k)
        Leading singular vectors of the node's side.
    n_nodes : int
    hidden_dim : int
    init : {"spectral", "random"}
    generator : torch.Generator
    device : torch.device

    Returns
    -------
    weights : Tensor of shape (n_nodes, hidden_dim)
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

    Parameters
    ----------
    n_singular : int
        Singular directions in the first layer.
    hidden_dim, latent_dim : int
    generator : torch.Generator
        A CPU generator.
    skip_first : bool, default=True

    Returns
    -------
    head : Tensor of shape (hidden_dim, latent_dim)
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
    """A freshly initialised model for one restart.

    Parameters
    ----------
    data : TrainingData
    config : TrainingConfig
    init : {"spectral", "random"}
    generator : torch.Generator
        The restart's generator (on the training device).
    device : torch.device

    Returns
    -------
    model : DeepLatentBlockModel
        Its likelihood in ``model.likelihood``, the encoders calibrated and the intercept
        centred.
    """
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
    model.set_reducers(*data.reducers)
    model.calibrate(data.adjacency, data.adjacency_t)
    _centre_intercept(model, data)
    return model


@torch.no_grad()
def _centre_intercept(model, data):
    """Add the initial mean squared row-column distance to ``alpha``.

    ``eta = alpha - ||X - Y||^2`` then starts at the data's mean on average, instead of
    about one unit below it; otherwise the first epochs shrink every position to undo
    the offset and lose the structure of the start.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    """
    row_mean, _, column_mean, _ = model.encode(data.adjacency, data.adjacency_t)
    rows, columns = data.reducers
    mean_sq_dist = (rows.mean(row_mean.pow(2).sum(1)) + columns.mean(column_mean.pow(2).sum(1))
                    - 2.0 * rows.mean(row_mean) @ columns.mean(column_mean))
    model.decoder.alpha.add_(mean_sq_dist)


def _cpu_generator(generator):
    """A CPU generator derived from ``generator`` (head initialisation draws on CPU).

    Parameters
    ----------
    generator : torch.Generator

    Returns
    -------
    generator : torch.Generator
        Seeded by one draw of ``generator``.
    """
    seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator,
                             device=generator.device).item())
    return torch.Generator().manual_seed(seed)
