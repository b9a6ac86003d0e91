"""The protocol every term of a training objective follows.

A model's objective is ``sum_t weight_t(epoch) * value_t``: the reconstruction of the
cells, the mixture KL and entropy, the graph divergence, the clustering module's loss,
the variational model's bounds and contrasts. A term whose weight is raised over the
first epochs (a warm-up) is trained at its current weight but reported at its full
weight, so that the reported objective does not fall merely because a weight grows (the
stopping rule would read that as convergence).
"""


class ObjectiveTerm:
    """One term of an objective (to be maximised).

    Subclasses implement :meth:`value`; a term with a schedule overrides :meth:`weight`.
    The signs are the objective's: a penalty returns minus its size.
    """

    #: Name of the term in histories and error messages.
    name = "term"

    def value(self, state):
        """The term's value at the current state of the model (a scalar tensor).

        Parameters
        ----------
        state : object
            What the model's loop computed this step (positions, memberships, ...).

        Returns
        -------
        value : Tensor (scalar)
            Differentiable where the term trains the networks.
        """
        raise NotImplementedError

    def weight(self, epoch):
        """The weight of the term at an epoch; ``epoch=None`` is the full weight.

        Parameters
        ----------
        epoch : int or None

        Returns
        -------
        weight : float
        """
        return 1.0

    def full_weight(self):
        """The weight at which the term is reported (:meth:`weight` at ``None``)."""
        return self.weight(None)
