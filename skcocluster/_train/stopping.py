"""The stopping rule of the training loops (docs/model.rst, "Stopping and restarts")."""

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from .callbacks import Callback

# Epochs compared by the deep LBM's stopping rule: the mean of the last window against the
# window before.
STOPPING_WINDOW = 10


def has_converged(history, tol, window):
    """Whether the smoothed relative gain of the objective has fallen under ``tol``.

    Parameters
    ----------
    history : sequence of float
        The objective per epoch (higher is better).
    tol : float
    window : int
        Epochs per window.

    Returns
    -------
    converged : bool
        False while fewer than ``2 * window`` epochs are recorded; then whether the mean of
        the last ``window`` values exceeds that of the ``window`` before by less than
        ``tol`` times the absolute value of the latter.
    """
    if len(history) < 2 * window:
        return False
    recent = np.mean(history[-window:])
    previous = np.mean(history[-2 * window:-window])
    return (recent - previous) < tol * abs(previous)


class ConvergenceStop(Callback):
    """Stop when :func:`has_converged`, tested at the end of each window of epochs.

    Testing once per window rather than every epoch leaves the results the same whether
    or not a progress display reads every epoch's value back from the device. The rule
    reads the history from ``state.stopping_start`` on (0 unless a callback moves it).

    Parameters
    ----------
    tol : float
    window : int
    """

    def __init__(self, tol, window=STOPPING_WINDOW):
        self.tol = tol
        self.window = window

    def should_stop(self, state):
        """Whether the objective has stopped rising (at the end of a window only).

        Parameters
        ----------
        state : EpochState

        Returns
        -------
        stop : bool
        """
        if (state.epoch + 1) % self.window != 0:
            return False
        return has_converged(state.log.values()[state.stopping_start:], self.tol, self.window)


# Largest share of the rows and columns that may change label over one window of the
# alternating phase for its partition to count as settled.
SETTLED_LABEL_SHARE = 0.003
# Smallest ARI between the k-means partitions of the positions at the ends of two windows
# of pretraining, on each side, for the positions to count as settled.
SETTLED_POSITIONS_ARI = 0.98
# Windows of pretraining without a new best agreement after which the positions count as
# settled as far as they will (see PositionsSettled).
SETTLING_PATIENCE = 5


class LabelsSettled(Callback):
    """Stop once the memberships' labels have settled.

    At the end of each window of epochs, the labels of every row and column are compared
    with those at the end of the window before; training stops when at most ``share`` of
    them changed. The objective keeps creeping up long after the partition has stopped
    moving (the positions tighten around fixed clusters), so its own rule alone lets the
    alternating phase run epochs that change nothing (docs/model.rst, "Stopping and
    restarts"). The labels are compared on the device and read back once per window.

    Parameters
    ----------
    share : float, default=SETTLED_LABEL_SHARE
    window : int, default=STOPPING_WINDOW
    """

    def __init__(self, share=SETTLED_LABEL_SHARE, window=STOPPING_WINDOW):
        self.share = share
        self.window = window
        self.previous = None

    def should_stop(self, state):
        """Whether the labels moved less than ``share`` over the last window.

        Parameters
        ----------
        state : EpochState
            ``state.memberships`` holds the rows' and the columns' memberships.

        Returns
        -------
        stop : bool
        """
        if (state.epoch + 1) % self.window != 0 or state.memberships is None:
            return False
        labels = [resp.argmax(1) for resp in state.memberships]
        previous, self.previous = self.previous, labels
        if previous is None:
            return False
        # summed over the processes that share a side's nodes (the identity in one process)
        changed = sum(reducer.sum((new != old).float().sum())
                      for reducer, new, old in zip(state.reducers, labels, previous))
        n_nodes = sum(reducer.count(new.shape[0]) for reducer, new in zip(state.reducers, labels))
        return float(changed / n_nodes) <= self.share


class PositionsSettled(Callback):
    """Stop pretraining once the k-means partition of the positions has settled, or has
    stopped settling further.

    At the end of each window of epochs, k-means clusters each side's posterior means,
    started from the centres it found at the end of the window before (so that its labels
    follow the positions rather than the draw), and the partition's agreement with the one
    before is the smaller of the two sides' ARIs. Pretraining stops when it reaches
    ``min_ari``: what follows pretraining is a k-means start on those positions, and once
    their k-means partition no longer moves, further epochs do not change where the model
    starts. Where the positions keep drifting at a floor (many rarely observed columns of
    a large sparse matrix), it also stops when the agreement has not beaten its best for
    ``patience`` windows: further epochs would not settle the start either.

    Parameters
    ----------
    n_clusters : tuple of (int, int)
        Row and column clusters.
    seed : int
        Seeds the first k-means++ draw.
    min_ari : float, default=SETTLED_POSITIONS_ARI
    window : int, default=STOPPING_WINDOW
    patience : int, default=SETTLING_PATIENCE
        Windows without a new best agreement before pretraining stops.
    """

    def __init__(self, n_clusters, seed, min_ari=SETTLED_POSITIONS_ARI,
                 window=STOPPING_WINDOW, patience=SETTLING_PATIENCE):
        self.n_clusters = n_clusters
        self.seed = seed
        self.min_ari = min_ari
        self.window = window
        self.patience = patience
        self.previous = None
        self.best = -np.inf
        self.since_best = 0

    def should_stop(self, state):
        """Whether both sides' k-means partitions agree with the window before, or their
        agreement has stopped improving.

        Parameters
        ----------
        state : EpochState
            ``state.posteriors`` holds this epoch's posterior means.

        Returns
        -------
        stop : bool
        """
        if (state.epoch + 1) % self.window != 0:
            return False
        means = (state.reducers[0].gather(state.posteriors[0]),
                 state.reducers[1].gather(state.posteriors[2]))
        fits = [self._kmeans(mean, side) for side, mean in enumerate(means)]
        previous, self.previous = self.previous, fits
        if previous is None:
            return False
        agreement = min(adjusted_rand_score(old.labels_, new.labels_)
                        for old, new in zip(previous, fits))
        if agreement > self.best:
            self.best, self.since_best = agreement, 0
        else:
            self.since_best += 1
        return state.reducers[0].agree(
            agreement >= self.min_ari or self.since_best >= self.patience)

    def _kmeans(self, mean, side):
        """k-means of one side's means, from the previous centres when there are some."""
        points = mean.detach().cpu().double().numpy()
        n_clusters = min(self.n_clusters[side], points.shape[0])
        init = "k-means++" if self.previous is None else self.previous[side].cluster_centers_
        return KMeans(n_clusters, init=init, n_init=1, random_state=self.seed).fit(points)
