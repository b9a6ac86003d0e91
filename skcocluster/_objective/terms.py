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


def training_objective(terms, state):
    """``sum_t weight_t(epoch) value_t``, the objective a step maximises.

    The terms are evaluated and added in their order; a term at weight 1 is added as it
    is (no product), so that the sum is the plain sum of its values.

    Parameters
    ----------
    terms : list of ObjectiveTerm
    state : object
        The loop's state; ``state.epoch`` sets the weights.

    Returns
    -------
    objective : Tensor (scalar)
        Differentiable.
    values : list of Tensor
        Each term's value, unweighted.
    """
    objective, values = None, []
    for term in terms:
        value = term.value(state)
        weight = term.weight(state.epoch)
        part = value if weight == 1.0 else weight * value
        objective = part if objective is None else objective + part
        values.append(value)
    return objective, values


def reported_objective(terms, values):
    """The objective at full weights, on the device (a detached scalar tensor).

    A term whose full weight is not 1 is scaled in double precision and rounded to the
    value's precision, as :func:`objective_value` scales it: the history a loop reports
    and the final bound then agree on that term.

    Parameters
    ----------
    terms : list of ObjectiveTerm
    values : list of Tensor
        The terms' values (:func:`training_objective`).

    Returns
    -------
    objective : Tensor (scalar)
    """
    total = None
    for term, value in zip(terms, values):
        weight = term.full_weight()
        part = value.detach()
        if weight != 1.0:
            part = (weight * part.double()).to(value.dtype)
        total = part if total is None else total + part
    return total


def objective_value(terms, values):
    """The objective at full weights as a Python float (one read-back from the device).

    The terms at weight 1 are summed on the device; the others are scaled and added in
    double precision.

    Parameters
    ----------
    terms : list of ObjectiveTerm
    values : list of Tensor

    Returns
    -------
    objective : float
    """
    total, scaled = None, 0.0
    for term, value in zip(terms, values):
        weight = term.full_weight()
        if weight == 1.0:
            total = value if total is None else total + value
        else:
            scaled += weight * float(value)
    return float(total) + scaled
