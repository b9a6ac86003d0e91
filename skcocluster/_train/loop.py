"""The deep latent block model's epoch loop, shared by pretraining and the alternating phase.

Each epoch: the callbacks' ``on_epoch_begin``, one forward pass of the encoders, their
``on_forward`` (the explicit step of the mixtures, or the clustering modules'
standardisation), the objective's terms, one Adam step, their ``on_epoch_end`` (the noise
variance's refit), then the epoch's objective at full weights is logged and the callbacks
are asked whether to stop. What differs between phases and options is the list of terms
and the list of callbacks, never the loop.
"""

from dataclasses import dataclass

import torch

from .._nn.optimizer import Adam
from .._parallel.reducer import IDENTITY
from .._objective.terms import reported_objective, training_objective
from .callbacks import any_should_stop
from .stopping import STOPPING_WINDOW


def adam_optimizer(parameters, learning_rate):
    """Adam, fused into one kernel per step where this torch build offers it.

    The first layers hold one weight row per node (millions of weights at scale); the
    unfused CPU Adam makes a dozen passes over them per step, about as long as the rest of
    an epoch. Fused Adam exists for CUDA, and for the CPU from torch 2.4.

    Parameters
    ----------
    parameters : iterable of Parameter
    learning_rate : float

    Returns
    -------
    optimizer : Adam
    """
    return Adam(parameters, learning_rate, fused=True)


class EpochLog:
    """The objective per epoch, read back from the device in batches.

    Reading a value makes the host wait for the device; doing it every epoch would drain a
    GPU's queue of work each time. Values stay on the device and are read every
    ``read_every`` epochs (the stopping rule needs no more), or every epoch when a
    progress display shows them.

    Parameters
    ----------
    progress : Progress
    phase : str
        Name of the phase shown by the progress display.
    read_every : int, default=STOPPING_WINDOW
    """

    def __init__(self, progress, phase, read_every=STOPPING_WINDOW):
        self.progress = progress
        self.phase = phase
        self.read_every = read_every
        self._values = []
        self._pending = []

    def add(self, value):
        """Record one epoch's value (a scalar tensor).

        Parameters
        ----------
        value : Tensor (scalar)
        """
        self._pending.append(value)
        if self.progress.verbose >= 1 or len(self._pending) >= self.read_every:
            self._read_back()

    def _read_back(self):
        """Move the pending values to the host, reporting each to the progress display."""
        if not self._pending:
            return
        for value in torch.stack(self._pending).tolist():
            self.progress.update(self.phase, len(self._values), value)
            self._values.append(value)
        self._pending = []

    def values(self):
        """Every value recorded so far.

        Returns
        -------
        values : list of float
        """
        self._read_back()
        return self._values


@dataclass
class EpochState:
    """What the loop holds between its steps, passed to every term and callback.

    Attributes
    ----------
    log : EpochLog
        The objective per cell of the epochs so far.
    epoch : int or None
        The current epoch (None in the final state: every term at full weight).
    posteriors : tuple of Tensor
        This epoch's row mean (M, D), row log-variance (M,), column mean (P, D) and column
        log-variance (P,), differentiable.
    memberships : tuple
        The rows' and the columns' memberships of this epoch, when a callback sets them
        (the explicit step).
    stopping_start : int
        First epoch of the history the convergence rule reads.
    reducers : tuple of two Reducer
        Sums over the rows and over the columns (the data's ``reducers``).
    """

    log: EpochLog = None
    epoch: object = 0
    posteriors: tuple = None
    memberships: tuple = None
    stopping_start: int = 0
    reducers: tuple = (IDENTITY, IDENTITY)


class EpochLoop:
    """Epochs of one Adam step each on a list of objective terms, with callbacks.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    terms : list of ObjectiveTerm
        The objective is ``sum_t weight_t(epoch) value_t``, divided by the number of cells.
    callbacks : list of Callback
    optimizer : Adam or torch.optim.Optimizer
    log : EpochLog
    """

    def __init__(self, model, data, terms, callbacks, optimizer, log):
        self.model = model
        self.data = data
        self.terms = list(terms)
        self.callbacks = list(callbacks)
        self.optimizer = optimizer
        # data without reducers (a stand-in in tests) is held whole by this process
        self.reducers = getattr(data, "reducers", (IDENTITY, IDENTITY))
        self.state = EpochState(log=log, reducers=self.reducers)

    def step(self, epoch):
        """One epoch: forward pass, objective, one optimiser step.

        Parameters
        ----------
        epoch : int

        Returns
        -------
        objective : Tensor (scalar)
            The objective per cell at full weights, detached (read back by the log).
        """
        state = self.state
        state.epoch = epoch
        for callback in self.callbacks:
            callback.on_epoch_begin(state)
        self.optimizer.zero_grad(set_to_none=True)
        state.posteriors = self.model.encode(self.data.adjacency, self.data.adjacency_t)
        for callback in self.callbacks:
            callback.on_forward(state)
        objective, values = training_objective(self.terms, state)
        n_cells = self.data.cells.n_cells
        (-objective / n_cells).backward()
        self.optimizer.step()
        for callback in self.callbacks:
            callback.on_epoch_end(state)
        # the objective of a row shard is its part of the sum over rows
        return self.reducers[0].sum(reported_objective(self.terms, values)) / n_cells

    def run(self, max_epochs):
        """Epochs until a callback asks to stop, or ``max_epochs`` of them.

        Parameters
        ----------
        max_epochs : int

        Returns
        -------
        history : list of float
            The objective per cell of each epoch.
        stopped : bool
            Whether a callback stopped the loop before ``max_epochs``.
        """
        state = self.state
        for callback in self.callbacks:
            callback.on_phase_begin(state)
        stopped = False
        for epoch in range(max_epochs):
            state.log.add(self.step(epoch))
            if any_should_stop(self.callbacks, state):
                stopped = True
                break
        for callback in self.callbacks:
            callback.on_phase_end(state)
        return state.log.values(), stopped
