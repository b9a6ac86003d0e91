"""The closed-form refit of a likelihood's noise variance after each step (Gaussian)."""

from .._objective.reconstruction import gaussian_noise_variance
from .callbacks import Callback


class NoiseVarianceRefit(Callback):
    """Set the noise variance to its closed-form value at the epoch's posterior means.

    Parameters
    ----------
    model : DeepLatentBlockModel
        Its likelihood has a noise variance (``likelihood.has_noise_variance``).
    cells : CellData
    """

    def __init__(self, model, cells):
        self.model = model
        self.cells = cells

    def on_epoch_end(self, state):
        """``mean_ij (A_ij - eta_ij)^2`` at this epoch's posterior means.

        Parameters
        ----------
        state : EpochState
        """
        self.model.likelihood.noise_var = gaussian_noise_variance(
            self.model.decoder, state.posteriors[0].detach(), state.posteriors[2].detach(),
            self.cells)


def noise_callbacks(model, cells):
    """The noise-variance refit when the model's likelihood has a noise variance.

    Parameters
    ----------
    model : DeepLatentBlockModel
    cells : CellData

    Returns
    -------
    callbacks : list of Callback
    """
    if model.likelihood.has_noise_variance:
        return [NoiseVarianceRefit(model, cells)]
    return []
