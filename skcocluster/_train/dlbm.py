"""Training of the deep latent block model, one restart (docs/model.rst, "Pretraining and
initialisation", "Explicit step", "Stopping and restarts").

Build the model, start its mixtures by k-means, pretrain, start them again, run the
alternating phase, and compute the final state, whose exact bound ranks the restarts.
Pretraining and the alternating phase run the same epoch loop (``loop.py``) on their own
lists of objective terms and callbacks; the options (``clustering='module'``, the graph
regulariser, facets, a noise variance) only change those lists.
"""

import time
from dataclasses import dataclass, field

import torch

from .._nn.model import DeepLatentBlockModel
from .._objective.graph import GraphTerm
from .._objective.prior import StandardNormalTerm
from .._objective.reconstruction import ReconstructionTerm
from .._objective.terms import objective_value
from .._start.kmeans import kmeans_start
from .build import build_model
from .clustering_module import ModuleClustering
from .explicit_step import MixtureClustering
from .facets import facet_callbacks, facet_start_memberships
from .loop import EpochLog, EpochLoop, EpochState, adam_optimizer
from .noise_variance import noise_callbacks
from .progress import StageClock
from .stopping import ConvergenceStop, LabelsSettled, PositionsSettled

# Pretraining pulls the positions only lightly towards N(0, I).
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
    # n_facets > 1: (n_row_clusters, n_column_clusters) of each facet
    facet_cluster_counts: object = None
    facet_fade_epochs: int = 0
    # clustering='module': a clustering_module.ModuleOptions (None: the explicit step)
    clustering_module: object = None
    # graph_weight > 0: an _objective.graph.GraphRegulariser (None: no graph term)
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
    stage_seconds: dict = field(default_factory=dict)


def fit_once(data, config, init, seed, device, progress):
    """One restart: initialise, k-means start, pretrain, k-means start, alternate, final bound.

    Parameters
    ----------
    data : TrainingData
    config : TrainingConfig
    init : {"spectral", "random"}
    seed : int
    device : torch.device
    progress : Progress

    Returns
    -------
    fit : SingleFit
    """
    start, clock = time.perf_counter(), StageClock()
    generator = torch.Generator(device=device).manual_seed(int(seed))
    memberships = None if config.facet_cluster_counts is None else facet_start_memberships
    with clock.stage("start"):
        model = build_model(data, config, init, generator, device)
        # The partition of the untrained encoders (for the spectral start, k-means on the
        # leading singular directions) is kept as a second start for the block refinement.
        start_resp = kmeans_start(model, data, config, int(seed), memberships)
    with clock.stage("pretrain"):
        pretrain_history = pretrain(model, data, config, generator, progress, int(seed))
    with clock.stage("start"):
        kmeans_start(model, data, config, int(seed), memberships)
        clustering = (MixtureClustering() if config.clustering_module is None
                      else ModuleClustering(config))
        clustering.start(model, data, int(seed))
    with clock.stage("train"):
        history, converged = alternate(model, data, config, clustering, generator, progress)
        row_resp, column_resp, lower_bound = final_state(model, data, config, clustering)
    return SingleFit(model=model, row_resp=row_resp, column_resp=column_resp,
                     lower_bound=lower_bound, history=history,
                     pretrain_history=pretrain_history, n_iter=len(history),
                     converged=converged, seconds=time.perf_counter() - start,
                     start_row_resp=start_resp[0], start_column_resp=start_resp[1],
                     stage_seconds=clock.seconds)


def pretrain(model, data, config, generator, progress, seed=0):
    """Train encoders and decoder as a graph autoencoder, until the positions settle.

    At most ``pretrain_epochs`` epochs; it stops earlier once the k-means partition of the
    positions no longer moves, or no longer settles further
    (:class:`~skcocluster._train.stopping.PositionsSettled`).

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    generator : torch.Generator
    progress : Progress
    seed : int, default=0
        Seeds the k-means of the settling rule.

    Returns
    -------
    history : list of float
        The objective per cell of each epoch.
    """
    terms = [ReconstructionTerm(model, data.cells, config.n_sampled_cells, generator),
             StandardNormalTerm(PRETRAIN_KL_WEIGHT)]
    optimizer = adam_optimizer(model.network_parameters(), config.learning_rate * 2)
    settled = PositionsSettled((config.n_row_clusters, config.n_column_clusters), seed)
    loop = EpochLoop(model, data, terms, noise_callbacks(model, data.cells) + [settled],
                     optimizer, EpochLog(progress, "pretrain"))
    return loop.run(config.pretrain_epochs)[0]


def objective_terms(model, data, config, generator, clustering):
    """The alternating phase's terms: reconstruction, both sides' clustering, the graph.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    generator : torch.Generator
    clustering : MixtureClustering or ModuleClustering

    Returns
    -------
    terms : list of ObjectiveTerm
    """
    terms = [ReconstructionTerm(model, data.cells, config.n_sampled_cells, generator)]
    terms += clustering.terms(model)
    if config.graph is not None:
        terms.append(GraphTerm(config.graph, (model.head("row"), model.head("column"))))
    return terms


def alternating_callbacks(model, data, config, clustering, generator):
    """The alternating phase's callbacks, in the order the loop calls them.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    clustering : MixtureClustering or ModuleClustering
    generator : torch.Generator

    Returns
    -------
    callbacks : list of Callback
    """
    # Several facets have their own rule on settled labels (facet_callbacks).
    callbacks, stops = [], [ConvergenceStop(config.tol)]
    if config.facet_cluster_counts is not None:
        callbacks += facet_callbacks(model, data, config, generator)
    else:
        stops.append(LabelsSettled())
    callbacks += clustering.callbacks(model)
    callbacks += noise_callbacks(model, data.cells)
    return callbacks + stops


def alternate(model, data, config, clustering, generator, progress):
    """The alternating phase: a clustering step then an Adam step, until convergence.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    clustering : MixtureClustering or ModuleClustering
    generator : torch.Generator
    progress : Progress

    Returns
    -------
    history : list of float
        The objective per cell of each epoch (the graph term at full weight).
    converged : bool
    """
    loop = EpochLoop(model, data, objective_terms(model, data, config, generator, clustering),
                     alternating_callbacks(model, data, config, clustering, generator),
                     adam_optimizer(model.network_parameters(), config.learning_rate),
                     EpochLog(progress, "train"))
    history, converged = loop.run(config.max_iter)
    clustering.finish(loop)
    return history, converged


def final_bound_config(config):
    """The configuration of the final bound: the exact all-cells sum, unless training sampled.

    An exact sum visits every one of the M x P cells (1e9 and more at scale), so a sampled
    training gets a sampled final bound too, from ``FINAL_SAMPLE_FACTOR`` times as many
    cells: its relative error is then far below the differences between restarts.

    Parameters
    ----------
    config : TrainingConfig

    Returns
    -------
    config : TrainingConfig
    """
    n_sampled = config.n_sampled_cells
    return TrainingConfig(**{**config.__dict__, "n_sampled_cells": (
        None if n_sampled is None else FINAL_SAMPLE_FACTOR * n_sampled)})


@torch.no_grad()
def final_state(model, data, config, clustering):
    """Final memberships and the objective per cell at full weights.

    The memberships are the clustering's final ones (``final_memberships``). The
    all-cells sum is exact when the training's was; a matrix large enough to train on
    sampled cells gets it from a larger sample (:func:`final_bound_config`). The draws
    (positions and cells) use a fixed seed, so restarts are ranked on the same footing.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    config : TrainingConfig
    clustering : MixtureClustering or ModuleClustering

    Returns
    -------
    row_resp, column_resp : Tensor
    lower_bound : float
    """
    posteriors = model.encode(data.adjacency, data.adjacency_t)
    state = EpochState(epoch=None, posteriors=posteriors,
                       memberships=clustering.final_memberships(model, posteriors),
                       reducers=data.reducers)
    generator = torch.Generator(device=posteriors[0].device).manual_seed(FINAL_BOUND_SEED)
    terms = objective_terms(model, data, final_bound_config(config), generator, clustering)
    values = [data.reducers[0].sum(term.value(state)) for term in terms]
    row_resp, column_resp = state.memberships
    return row_resp, column_resp, objective_value(terms, values) / data.cells.n_cells
