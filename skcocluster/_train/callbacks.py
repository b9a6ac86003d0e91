"""The protocol of what happens around the epochs of a training loop.

A training loop knows its model and its objective terms; its stopping rules and everything
an option adds around the epochs (the facets' fade-in and their settled labels, the
explicit step of the mixtures or the clustering module's standardisation, the refit of a
noise variance) are callbacks, so that the loop does not branch on options.
"""


class Callback:
    """Hooks a training loop calls; every hook does nothing unless overridden.

    The loop passes one mutable ``state`` object to every hook (the model, the data, the
    epoch, the step's memberships...; each loop documents its own).
    """

    def on_phase_begin(self, state):
        """Before the first epoch of the loop."""

    def on_epoch_begin(self, state):
        """Before each epoch's step (``state.epoch`` is set)."""

    def on_forward(self, state):
        """After the forward pass (``state.posteriors`` set), before the objective's terms."""

    def on_epoch_end(self, state):
        """After each epoch's step."""

    def should_stop(self, state):
        """Whether training should stop after this epoch (asked after ``on_epoch_end``).

        Returns
        -------
        stop : bool
        """
        return False

    def on_phase_end(self, state):
        """After the last epoch of the loop."""


def any_should_stop(callbacks, state):
    """Whether one of the callbacks asks to stop (every one is asked, in order).

    Parameters
    ----------
    callbacks : list of Callback
    state : object

    Returns
    -------
    stop : bool
    """
    stops = [callback.should_stop(state) for callback in callbacks]
    return any(stops)
