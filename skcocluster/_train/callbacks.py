"""The protocol of what happens around the epochs of a training loop.

A training loop knows its model, its objective terms and its stopping rule; everything an
option adds around the epochs (the facets' fade-in and their settled labels, the
clustering module's warm-up, the refit of a noise variance) is a callback, so that the
loop does not branch on options.
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
    """Whether one of the callbacks asks to stop (every one is asked, in order)."""
    stops = [callback.should_stop(state) for callback in callbacks]
    return any(stops)
