"""``clustering='module'``: the AE-CM clustering module on each side in place of the
closed-form mixture step (docs/model.rst, "The clustering module").

After the usual pretraining and k-means start:

1. start: each side's module is initialised on its posterior means (k-means++ centroids as
   ``W_dec``, ``W_enc = pinv(W_dec)``, null biases), then warmed up alone (Adam on
   ``L_CM``, encoders frozen);
2. the alternating phase's loop, on ``reconstruction - L_CM(rows) - L_CM(columns)`` (the
   ELBO's mixture terms replaced by ``L_CM`` on the posterior means), with the modules'
   standardisation refreshed at each epoch;
3. an averaging epoch: a few more steps of the loop, after which each module's parameters
   are set to their mean over those steps (centroids jitter from step to step);
4. final state: memberships ``G``, and the Gaussian-mixture buffers refitted to ``G`` so
   that ``row_means_`` etc. describe it.
"""

from dataclasses import dataclass

import torch

from .._nn.clustering_module import ClusteringModule
from .._nn.optimizer import Adam
from .._objective.clustering_module import ModuleTerm
from .callbacks import Callback

# Adam steps and step size of the warm-up of the modules alone (cheap: no likelihood).
WARMUP_STEPS = 200
WARMUP_LEARNING_RATE = 0.05
# Steps of the loop averaged by the final averaging epoch.
AVERAGING_STEPS = 10


@dataclass
class ModuleOptions:
    """Hyper-parameters of the clustering modules (shared by both sides).

    Attributes
    ----------
    concentration : float
        Dirichlet concentration of the balance prior.
    orthonormality : float
        Weight of the orthonormal-centroid penalty.
    """

    concentration: float
    orthonormality: float


def attach_modules(model, config):
    """Make a fresh clustering module each side's head (``model.attach_clustering_modules``).

    Parameters
    ----------
    model : DeepLatentBlockModel
    config : TrainingConfig
        ``config.clustering_module`` is a :class:`ModuleOptions`.
    """
    options = config.clustering_module
    device = next(model.parameters()).device
    model.attach_clustering_modules(*(
        ClusteringModule(n_clusters, config.latent_dim, concentration=options.concentration,
                         orthonormality=options.orthonormality).to(device)
        for n_clusters in (config.n_row_clusters, config.n_column_clusters)))


def module_parameters(model):
    """The parameters of both clustering modules.

    Parameters
    ----------
    model : DeepLatentBlockModel

    Returns
    -------
    parameters : list of Parameter
    """
    return list(model.row_clustering.parameters()) + list(model.column_clustering.parameters())


def module_start(model, data, seed):
    """Initialise both modules on the current posterior means, then warm them up.

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
    seed : int
        Seeds the modules' k-means.
    """
    with torch.no_grad():
        row_mean, _, column_mean, _ = model.encode(data.adjacency, data.adjacency_t)
    model.row_clustering.initialise(row_mean, seed)
    model.column_clustering.initialise(column_mean, seed)
    warm_up(model, row_mean, column_mean)


def warm_up(model, row_mean, column_mean, steps=WARMUP_STEPS):
    """Adam on the modules alone, the positions fixed (the encoders frozen).

    Parameters
    ----------
    model : nn.Module
        With ``row_clustering`` and ``column_clustering`` modules.
    row_mean, column_mean : Tensor of shape (M, D) and (P, D)
    steps : int
    """
    optimizer = Adam(module_parameters(model), WARMUP_LEARNING_RATE)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = (model.row_clustering.loss(row_mean)[0] / row_mean.shape[0]
                + model.column_clustering.loss(column_mean)[0] / column_mean.shape[0])
        loss.backward()
        optimizer.step()


class ModuleStandardisation(Callback):
    """Refresh both modules' standardisation on each epoch's posterior means.

    Parameters
    ----------
    model : DeepLatentBlockModel
        With clustering modules attached.
    """

    def __init__(self, model):
        self.model = model

    def on_forward(self, state):
        """Centre and scale each module on its side's (detached) posterior means.

        Parameters
        ----------
        state : EpochState
        """
        self.model.row_clustering.set_standardisation(state.posteriors[0].detach())
        self.model.column_clustering.set_standardisation(state.posteriors[2].detach())


def averaging_epoch(loop, model, first_epoch, steps=AVERAGING_STEPS):
    """A few more steps of the loop; each module then takes its parameters' mean over them.

    Parameters
    ----------
    loop : EpochLoop
    model : DeepLatentBlockModel
    first_epoch : int
        Epoch number of the first of these steps (sets the terms' warm-up weights).
    steps : int
    """
    parameters = module_parameters(model)
    sums = [torch.zeros_like(p) for p in parameters]
    for step in range(steps):
        loop.step(first_epoch + step)
        for total, parameter in zip(sums, parameters):
            total += parameter.detach()
    with torch.no_grad():
        for total, parameter in zip(sums, parameters):
            parameter.copy_(total / steps)


class ModuleClustering:
    """The training of ``clustering='module'``; the methods of ``MixtureClustering``.

    Parameters
    ----------
    config : TrainingConfig
        ``config.clustering_module`` is a :class:`ModuleOptions`.
    """

    def __init__(self, config):
        self.config = config

    def start(self, model, data, seed):
        """Attach, initialise and warm up both modules.

        Parameters
        ----------
        model : DeepLatentBlockModel
        data : TrainingData
        seed : int
        """
        attach_modules(model, self.config)
        module_start(model, data, seed)

    def terms(self, model):
        """The rows' then the columns' module terms.

        Parameters
        ----------
        model : DeepLatentBlockModel

        Returns
        -------
        terms : list of ObjectiveTerm
        """
        return [ModuleTerm(model.row_clustering, 0), ModuleTerm(model.column_clustering, 1)]

    def callbacks(self, model):
        """The modules' standardisation at each epoch.

        Parameters
        ----------
        model : DeepLatentBlockModel

        Returns
        -------
        callbacks : list of Callback
        """
        return [ModuleStandardisation(model)]

    def finish(self, loop):
        """The averaging epoch, numbered after the loop's last epoch.

        Parameters
        ----------
        loop : EpochLoop
        """
        averaging_epoch(loop, loop.model, len(loop.state.log.values()))

    @torch.no_grad()
    def final_memberships(self, model, posteriors):
        """Memberships ``G``; the Gaussian mixtures are refitted to them.

        Parameters
        ----------
        model : DeepLatentBlockModel
        posteriors : tuple of Tensor

        Returns
        -------
        row_resp, column_resp : Tensor
        """
        model.row_clustering.set_standardisation(posteriors[0])
        model.column_clustering.set_standardisation(posteriors[2])
        row_resp = model.row_clustering.memberships(posteriors[0])
        column_resp = model.column_clustering.memberships(posteriors[2])
        model.row_prior.update(row_resp, posteriors[0], posteriors[1])
        model.column_prior.update(column_resp, posteriors[2], posteriors[3])
        return row_resp, column_resp
