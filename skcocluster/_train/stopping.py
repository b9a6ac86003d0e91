"""The stopping rule of the training loops (docs/model.rst, "Stopping and restarts")."""

import numpy as np

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
