"""``clustering='gmm'``: the closed-form explicit step of both mixtures (docs/model.rst,
"Explicit step")."""

import torch

from .._objective.prior import MixtureTerm
from .callbacks import Callback


class ExplicitStep(Callback):
    """One E then M step of both sides' mixtures at each epoch's posteriors.

    Sets ``state.memberships`` to the responsibilities used (a tuple per side for facet
    mixtures, one per facet), which the mixture terms then read.

    Parameters
    ----------
    model : DeepLatentBlockModel
    """

    def __init__(self, model):
        self.model = model

    def on_forward(self, state):
        """The explicit step at ``state.posteriors`` (detached: the networks held fixed).

        Parameters
        ----------
        state : EpochState
        """
        row_mean, row_log_var, column_mean, column_log_var = (
            posterior.detach() for posterior in state.posteriors)
        state.memberships = (self.model.row_prior.explicit_step(row_mean, row_log_var),
                             self.model.column_prior.explicit_step(column_mean, column_log_var))


class MixtureClustering:
    """The training of ``clustering='gmm'``: explicit steps and the mixtures' KL terms.

    The other clustering, :class:`~skcocluster._train.clustering_module.ModuleClustering`,
    has the same methods.
    """

    def start(self, model, data, seed):
        """Nothing to start: the k-means start has fitted the mixtures.

        Parameters
        ----------
        model : DeepLatentBlockModel
        data : TrainingData
        seed : int
        """

    def terms(self, model):
        """The rows' then the columns' mixture terms.

        Parameters
        ----------
        model : DeepLatentBlockModel

        Returns
        -------
        terms : list of ObjectiveTerm
        """
        return [MixtureTerm(model.row_prior, 0), MixtureTerm(model.column_prior, 1)]

    def callbacks(self, model):
        """The explicit step at each epoch.

        Parameters
        ----------
        model : DeepLatentBlockModel

        Returns
        -------
        callbacks : list of Callback
        """
        return [ExplicitStep(model)]

    def finish(self, loop):
        """Nothing after the loop.

        Parameters
        ----------
        loop : EpochLoop
        """

    @torch.no_grad()
    def final_memberships(self, model, posteriors):
        """One explicit step, then the memberships under the updated mixtures.

        They are then exactly what ``predict_proba`` gives on the training matrix.

        Parameters
        ----------
        model : DeepLatentBlockModel
        posteriors : tuple of Tensor

        Returns
        -------
        row_resp, column_resp : Tensor
        """
        model.row_prior.explicit_step(posteriors[0], posteriors[1])
        model.column_prior.explicit_step(posteriors[2], posteriors[3])
        return (model.row_prior.responsibilities(posteriors[0], posteriors[1]),
                model.column_prior.responsibilities(posteriors[2], posteriors[3]))
