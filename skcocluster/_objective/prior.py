"""The prior terms of the deep latent block model's objectives (docs/model.rst, "ELBO" and
"Pretraining and initialisation")."""

from .terms import ObjectiveTerm


class MixtureTerm(ObjectiveTerm):
    """``- sum gamma KL + sum gamma log(pi / gamma)`` of one side, under its mixture prior.

    Parameters
    ----------
    prior : GaussianMixturePrior or FacetMixturePrior
    side : {0, 1}
        Rows (0) or columns (1): which posteriors and memberships of the state it reads.
    """

    name = "mixture"

    def __init__(self, prior, side):
        self.prior = prior
        self.side = side

    def value(self, state):
        """The side's prior terms at ``state.posteriors`` and ``state.memberships``.

        Parameters
        ----------
        state : EpochState

        Returns
        -------
        value : Tensor (scalar)
            Differentiable in the posteriors, the memberships and the mixture held fixed.
        """
        mean = state.posteriors[2 * self.side]
        log_var = state.posteriors[2 * self.side + 1]
        return self.prior.prior_terms(state.memberships[self.side], mean, log_var)


class StandardNormalTerm(ObjectiveTerm):
    """Minus ``coefficient`` times the KL of both sides' posteriors to ``N(0, I)``.

    Pretraining pulls the positions only lightly towards ``N(0, I)``: the small coefficient
    is part of the value, not a schedule.

    Parameters
    ----------
    coefficient : float
    """

    name = "standard normal"

    def __init__(self, coefficient):
        self.coefficient = coefficient

    def value(self, state):
        """``-coefficient (KL(rows) + KL(columns))`` at ``state.posteriors``.

        Parameters
        ----------
        state : EpochState

        Returns
        -------
        value : Tensor (scalar)
        """
        row_mean, row_log_var, column_mean, column_log_var = state.posteriors
        rows, columns = state.reducers
        return -(self.coefficient * (
            rows.own_share(standard_normal_kl(row_mean, row_log_var))
            + columns.own_share(standard_normal_kl(column_mean, column_log_var))))


def standard_normal_kl(mean, log_var):
    """Sum over nodes of ``KL(N(mean, exp(log_var) I) || N(0, I))``.

    Parameters
    ----------
    mean : Tensor of shape (n, D)
    log_var : Tensor of shape (n,)

    Returns
    -------
    kl : Tensor (scalar)
    """
    latent_dim = mean.shape[1]
    return 0.5 * (latent_dim * (log_var.exp() - 1.0 - log_var) + mean.pow(2).sum(1)).sum()
