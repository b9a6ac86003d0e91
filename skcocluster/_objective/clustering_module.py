"""The clustering module's term of the objective (docs/model.rst, "The clustering module")."""

from .terms import ObjectiveTerm


class ModuleTerm(ObjectiveTerm):
    """Minus the clustering module's loss ``L_CM`` on one side's posterior means.

    With ``clustering='module'`` it takes the place of the side's mixture term.

    Parameters
    ----------
    module : ClusteringModule
    side : {0, 1}
        Rows (0) or columns (1): which posterior means of the state it reads.
    """

    name = "clustering module"

    def __init__(self, module, side):
        self.module = module
        self.side = side

    def value(self, state):
        """``-L_CM`` at ``state.posteriors`` (a differentiable scalar).

        Parameters
        ----------
        state : EpochState

        Returns
        -------
        value : Tensor (scalar)
        """
        return -self.module.loss(state.posteriors[2 * self.side])[0]
