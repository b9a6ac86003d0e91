"""Training of VariationalCoclustering: one restart from the model's start to its final
objective (``docs/model.rst``, "The variational model" and "Stopping and restarts").

A restart builds the model, pretrains both sides, starts the mixture priors, then runs
one loop of joint epochs over the terms of the objective (``_objective/variational.py``).
Options add terms (the graph divergence, the cell terms) or callbacks (the warm-up of the
per-cell model); the loop itself does not look at them.

The data (``prepare_data``, ``gather``, ``side_data``, ``CHUNK``, ``normalised_inputs``,
``spectral_directions``) live in ``_data/variational.py`` and the gradient diagnostic
(``encoder_gradient_draws``) in ``_train/variational_diagnostics.py``; they are
re-exported here for the modules that import them from here.
"""

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._data.variational import (CHUNK, epoch_batches, gather, normalised_inputs,
                                 prepare_data, side_data, side_memberships,
                                 spectral_directions)
from .._likelihoods import make_likelihood
from .._nn.optimizer import Adam
from .._nn.vae import VariationalCoclusteringModule
from .._objective.variational import objective_terms, reported_names, step_objective
from .._objective.variational_step import StepContext
from .._parallel.reducer import IDENTITY
from .._start.mixtures import start_mixtures
from .._start.variational import build_model, pretrain_cells, pretrain_side
from .callbacks import Callback, any_should_stop
from .progress import StageClock
from .stopping import LabelsSettled
from .variational_diagnostics import encoder_gradient_draws

__all__ = ["CHUNK", "FINAL_OBJECTIVE_SEED", "STOPPING_WINDOW", "VariationalConfig",
           "VariationalFit", "encoder_gradient_draws", "fit_once", "gather",
           "normalised_inputs", "prepare_data", "side_data", "spectral_directions"]

# Epochs compared by the stopping rule: the mean objective of the last STOPPING_WINDOW
# epochs against the STOPPING_WINDOW before (one epoch's estimate is noisy).
STOPPING_WINDOW = 5
# Seed of the draws of the final objective, so restarts are compared on the same noise.
FINAL_OBJECTIVE_SEED = 12345


@dataclass
class VariationalConfig:
    """Everything the training loop needs from the estimator's parameters.

    The fields are the estimator's parameters of the same names, but for ``graph`` (a
    ``GraphRegulariser`` when ``graph_weight > 0``, else None) and ``facet_counts``
    (``(n_row_clusters, n_column_clusters)`` of each facet when ``n_facets > 1``, else
    None).
    """

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
    graph: object = None
    facet_counts: object = None

    def side_clusters(self, side):
        """The side's cluster count, or its list of counts per facet.

        Parameters
        ----------
        side : {'row', 'column'}

        Returns
        -------
        n_clusters : int or list of int
        """
        if self.facet_counts is None:
            return self.n_row_clusters if side == "row" else self.n_column_clusters
        return [counts[side == "column"] for counts in self.facet_counts]


@dataclass
class VariationalFit:
    """The outcome of one restart.

    Attributes
    ----------
    model : VariationalCoclusteringModule
    objective : float
        The final objective J per cell (:func:`final_objective`).
    terms : dict of str to float
        Its unweighted terms per cell.
    history : list of float
        J per cell of each joint epoch.
    pretrain_history : list of list of float
        The rows' and the columns' pretraining losses.
    n_iter : int
    converged : bool
    seconds : float
    """

    model: VariationalCoclusteringModule
    objective: float
    terms: dict
    history: list
    pretrain_history: list
    n_iter: int
    converged: bool
    seconds: float
    stage_seconds: dict = field(default_factory=dict)

    @property
    def lower_bound(self):
        """The final objective per cell (named as the deep LBM's for the progress lines)."""
        return self.objective


@dataclass
class JointState:
    """What the joint loop hands its callbacks.

    Attributes
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
        ``ctx.epoch`` is the current epoch.
    progress : Progress
    history : list of float
        J per cell of the epochs so far.
    reducers : tuple of two Reducer
        Sums over the rows and over the columns for the stopping rule: the identity, since
        the variational model trains in one process.
    """

    model: VariationalCoclusteringModule
    ctx: StepContext
    progress: object
    history: list = field(default_factory=list)
    reducers: tuple = (IDENTITY, IDENTITY)

    @property
    def epoch(self):
        """The current epoch (``ctx.epoch``)."""
        return self.ctx.epoch

    @property
    def memberships(self):
        """The rows' and the columns' memberships now (an encoder pass over each side)."""
        data = self.ctx.data
        return tuple(side_memberships(self.model, side, data_side, self.ctx.device)[1]
                     for side, data_side in (("row", data.rows), ("column", data.columns)))


class CellWarmUp(Callback):
    """Before the joint epochs, train the per-cell model alone (``pretrain_cells``)."""

    def on_phase_begin(self, state):
        """Run the warm-up of the per-cell model, the side encoders fixed."""
        pretrain_cells(state.model, state.ctx, state.progress)


def joint_callbacks(config):
    """The callbacks of the joint loop that the configuration asks for.

    Parameters
    ----------
    config : VariationalConfig

    Returns
    -------
    callbacks : list of Callback
    """
    callbacks = []
    if config.cell_weight > 0 or config.cell_contrast_weight > 0:
        callbacks.append(CellWarmUp())
    if config.facet_counts is None:
        # Labels that stay put over a window end the phase; further epochs only tighten
        # the latents around the same partition (docs/model.rst, "Stopping and restarts").
        callbacks.append(LabelsSettled(window=STOPPING_WINDOW))
    return callbacks


def objective_pass(model, ctx, terms, optimizer=None):
    """One pass over all rows and columns in batches.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
    terms : list of VariationalTerm
    optimizer : Adam, optional
        Given: shuffled batches, an Adam step per batch. None: batches in order, no step.

    Returns
    -------
    objective : float
        J per cell, averaged over the batches.
    terms : dict of str to float
        The unweighted terms per cell, averaged over the batches.
    """
    n_cells = ctx.data.rows.n_vectors * ctx.data.rows.n_items
    for term in terms:
        term.begin_pass(model, ctx)
    batches = epoch_batches(ctx.data.rows.n_vectors, ctx.data.columns.n_vectors,
                            ctx.config.batch_size, ctx.generator, ctx.device,
                            shuffle=optimizer is not None)
    total, term_totals = 0.0, dict.fromkeys(reported_names(terms), 0.0)
    for row_ids, column_ids in batches:
        objective, value, values = step_objective(model, ctx, terms, row_ids, column_ids)
        if optimizer is not None:
            optimizer.zero_grad()
            (-objective / n_cells).backward()
            optimizer.step()
        total += value
        for name, value in values.items():
            term_totals[name] += value
    n_steps = len(batches)
    return total / n_steps / n_cells, {k: v / n_steps / n_cells for k, v in term_totals.items()}


def final_objective(model, ctx, terms):
    """J per cell and its terms over one ordered pass, with a fixed draw (no gradient).

    Parameters
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
        Its generator and epoch are replaced.
    terms : list of VariationalTerm

    Returns
    -------
    objective : float
    terms : dict of str to float
    """
    ctx.generator = torch.Generator(device=ctx.device).manual_seed(FINAL_OBJECTIVE_SEED)
    ctx.epoch = None
    with torch.no_grad():
        return objective_pass(model, ctx, terms)


def has_converged(history, tol, window=STOPPING_WINDOW):
    """Smoothed stopping rule: the last window's mean improves on the one before by less
    than ``tol`` times the last window's magnitude.

    Parameters
    ----------
    history : list of float
    tol : float
    window : int, default=STOPPING_WINDOW

    Returns
    -------
    converged : bool
    """
    if len(history) < 2 * window:
        return False
    last = np.mean(history[-window:])
    before = np.mean(history[-2 * window:-window])
    return last - before < tol * abs(last)


def train_jointly(state, terms, callbacks):
    """The joint epochs: Adam on every parameter until the stopping rule or a callback stops.

    Parameters
    ----------
    state : JointState
        Its history is filled.
    terms : list of VariationalTerm
    callbacks : list of Callback

    Returns
    -------
    converged : bool
    """
    model, ctx = state.model, state.ctx
    for callback in callbacks:
        callback.on_phase_begin(state)
    optimizer = Adam(model.parameters(), ctx.config.learning_rate,
                     weight_decay=ctx.config.weight_decay)
    converged = False
    for epoch in range(ctx.config.max_iter):
        ctx.epoch = epoch
        for callback in callbacks:
            callback.on_epoch_begin(state)
        value, _ = objective_pass(model, ctx, terms, optimizer)
        if not np.isfinite(value):
            raise FloatingPointError("the objective became non-finite")
        state.history.append(value)
        state.progress.update("train", epoch, value)
        for callback in callbacks:
            callback.on_epoch_end(state)
        if has_converged(state.history, ctx.config.tol) or any_should_stop(callbacks, state):
            converged = True
            break
    for callback in callbacks:
        callback.on_phase_end(state)
    return converged


def fit_once(data, config, seed, device, progress):
    """One restart: build, pretrain both sides, start the mixtures, train jointly.

    Parameters
    ----------
    data : VariationalData
    config : VariationalConfig
    seed : int
    device : torch.device
    progress : Progress

    Returns
    -------
    fit : VariationalFit
    """
    started, clock = time.perf_counter(), StageClock()
    with clock.stage("start"):
        model = build_model(data, config, seed, device)
    likelihood = make_likelihood(config.likelihood, data.noise_var)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    pretrain_history = []
    with clock.stage("pretrain"):
        for side, data_side in (("row", data.rows), ("column", data.columns)):
            pretrain_history.append(pretrain_side(model, side, data_side, config, likelihood,
                                                  generator, device, progress))
    with clock.stage("start"):
        start_mixtures(model, data, config, int(seed), device)
    state = JointState(model, StepContext(data, config, likelihood, generator, device),
                       progress)
    terms = objective_terms(config)
    with clock.stage("train"):
        # the cell model's warm-up (a callback of the joint loop) is counted here
        converged = train_jointly(state, terms, joint_callbacks(config))
        objective, final_terms = final_objective(model, state.ctx, terms)
    return VariationalFit(model=model, objective=objective, terms=final_terms,
                          history=state.history, pretrain_history=pretrain_history,
                          n_iter=len(state.history), converged=converged,
                          seconds=time.perf_counter() - started, stage_seconds=clock.seconds)
