"""Bipartite two-hop graph neural network encoders (docs/model.rst, "Encoders").

One class serves both sides: the row encoder propagates over ``Abar^T`` then ``Abar``, the
column encoder over ``Abar`` then ``Abar^T``. The first layer has one weight row per
training node of the *other* side's input (one-hot node features), so the encoder is
transductive in its parameters; new nodes are encoded with the fitted hidden features.
"""

import torch
from torch import nn

from .._parallel.reducer import IDENTITY


class _SparseMatmul(torch.autograd.Function):
    """``operator @ features`` for a sparse CSR operator, differentiable in ``features``.

    The backward pass multiplies by the stored transpose, a forward CSR product, which is
    far faster than the generic backward of ``torch.sparse.mm``.
    """

    @staticmethod
    def forward(ctx, operator, operator_t, features):
        """``operator @ features``, keeping ``operator_t`` for the backward pass."""
        ctx.operator_t = operator_t
        return torch.sparse.mm(operator, features)

    @staticmethod
    def backward(ctx, grad_output):
        """The gradient with respect to ``features``: ``operator_t @ grad_output``."""
        return None, None, torch.sparse.mm(ctx.operator_t, grad_output)


def propagate(operator, features, operator_t=None):
    """Multiply a (dense or sparse CSR) propagation operator by dense features.

    Parameters
    ----------
    operator : Tensor of shape (n, m)
    features : Tensor of shape (m, k)
    operator_t : Tensor of shape (m, n), optional
        The transpose of a sparse ``operator``; needed only when ``features`` requires grad.
    """
    if operator.layout == torch.strided:
        return operator @ features
    if operator_t is not None and features.requires_grad:
        return _SparseMatmul.apply(operator, operator_t, features)
    return torch.sparse.mm(operator, features)


class BipartiteGNNEncoder(nn.Module):
    """Encoder of one side of the bipartite graph into isotropic Gaussian positions.

    For the row side, with ``Abar`` the normalised M x P matrix::

        H = ReLU(Abar^T W1)            (P, hidden_dim)
        Z = feature_scale * (Abar H - centre)     (M, hidden_dim)
        mean = Z W_mean                (M, latent_dim)
        log_var = max(floor, Z w_var + b_var)   (M,)

    Parameters
    ----------
    first_layer_init : Tensor of shape (n_inputs, hidden_dim)
        Initial first-layer weights, one row per node of this side (``n_inputs`` is the
        number of rows for the row encoder).
    latent_dim : int
        Dimension D of the latent positions.
    log_var_floor : float
        Lower bound on the posterior log-variance.
    share_first_layer : bool
        If False, the variance head gets its own first layer (initialised as a copy).
    generator : torch.Generator
        Draws the head weights.
    mean_head_init : Tensor of shape (hidden_dim, latent_dim), optional
        Initial mean head; Glorot-uniform random weights when None.

    Attributes
    ----------
    reducers : tuple of two Reducer
        Sums over this side's nodes and over the other side's (the first hop contracts
        this side's nodes, the second hop the other side's, and the centring averages
        over this side's). The identity unless the model is sharded over processes
        (``skcocluster.distributed``).
    """

    reducers = (IDENTITY, IDENTITY)

    def __init__(self, first_layer_init, latent_dim, *, log_var_floor, share_first_layer,
                 generator, mean_head_init=None):
        super().__init__()
        hidden_dim = first_layer_init.shape[1]
        self.log_var_floor = float(log_var_floor)
        self.first_layer = nn.Parameter(first_layer_init.clone())
        self.first_layer_var = (
            None if share_first_layer else nn.Parameter(first_layer_init.clone())
        )
        bound = (6.0 / (hidden_dim + latent_dim)) ** 0.5  # Glorot uniform
        head = (torch.rand(hidden_dim, latent_dim, generator=generator) * 2 - 1) * bound
        if mean_head_init is not None:
            head = mean_head_init.detach().cpu().clone()
        self.mean_head = nn.Parameter(head.to(first_layer_init.device))
        self.var_head = nn.Parameter(torch.zeros(hidden_dim, 1, device=first_layer_init.device))
        # Start the posterior spread small next to the unit spread of the means.
        self.var_bias = nn.Parameter(torch.full((1,), -8.0, device=first_layer_init.device))
        # A fixed factor (not a weight) undoes the shrinkage of two-hop propagation, so the
        # weights stay O(1) and Adam's step size stays meaningful.
        self.register_buffer("feature_scale", torch.ones((), device=first_layer_init.device))

    def hidden(self, operator_in, operator_out, first_layer=None):
        """Return the first-hop hidden features ``ReLU(operator_in @ W1)``.

        ``operator_out`` is the transpose of ``operator_in`` (used by the backward pass).
        """
        weights = self.first_layer if first_layer is None else first_layer
        return torch.relu(self.reducers[0].sum(propagate(operator_in, weights, operator_out)))

    def second_hop(self, operator_out, hidden, operator_in=None):
        """Return the second-hop features ``operator_out @ hidden`` (summed over processes)."""
        return self.reducers[1].sum(propagate(operator_out, hidden, operator_in))

    def forward(self, operator_in, operator_out):
        """Encode every training node of this side.

        Parameters
        ----------
        operator_in : Tensor of shape (n_other, n_nodes)
            First-hop operator (``Abar^T`` for rows).
        operator_out : Tensor of shape (n_nodes, n_other)
            Second-hop operator (``Abar`` for rows).

        Returns
        -------
        mean : Tensor of shape (n_nodes, latent_dim)
        log_var : Tensor of shape (n_nodes,)
        """
        propagated = self.second_hop(operator_out, self.hidden(operator_in, operator_out),
                                     operator_in)
        if self.first_layer_var is None:
            # A shared first layer gives the same second-hop features to both heads: one
            # pair of sparse products instead of two (they dominate an epoch at scale).
            return self.heads(propagated, propagated)
        hidden_var = self.hidden(operator_in, operator_out, self.first_layer_var)
        return self.heads(propagated, self.second_hop(operator_out, hidden_var, operator_in))

    def heads(self, propagated, propagated_var, centres=None):
        """Apply the mean and log-variance heads to second-hop features.

        The features are centred over the side's nodes (``centres`` given: the fitted
        centres, for new nodes). Without it the propagation's leading, trivial direction
        (the square-root degrees, singular value 1) dwarfs every informative one, and all
        positions start on top of each other.
        """
        shared = propagated_var is propagated
        if centres is None:
            centre = self.reducers[0].mean(propagated)
            centres = (centre, centre if shared else self.reducers[0].mean(propagated_var))
        features = (propagated - centres[0]) * self.feature_scale
        # a shared first layer's heads read the same features: one (n, h) tensor, not two
        features_var = (features if shared and centres[1] is centres[0]
                        else (propagated_var - centres[1]) * self.feature_scale)
        mean = features @ self.mean_head
        log_var = (features_var @ self.var_head).squeeze(1) + self.var_bias
        return mean, torch.clamp(log_var, min=self.log_var_floor)

    @torch.no_grad()
    def fitted_state(self, operator_in, operator_out):
        """The detached hidden features and feature centres that encode new nodes.

        Returns
        -------
        hidden, hidden_var : Tensor of shape (n_other, hidden_dim)
        centres : tuple of two Tensors of shape (hidden_dim,)
        """
        hidden = self.hidden(operator_in, operator_out)
        centre = self.reducers[0].mean(self.second_hop(operator_out, hidden))
        if self.first_layer_var is None:
            return hidden, hidden, (centre, centre)
        hidden_var = self.hidden(operator_in, operator_out, self.first_layer_var)
        return hidden, hidden_var, (centre, self.reducers[0].mean(
            self.second_hop(operator_out, hidden_var)))

    @torch.no_grad()
    def calibrate_scale(self, operator_in, operator_out):
        """Set ``feature_scale`` so the initial posterior means have a set spread.

        Each coordinate of the means gets standard deviation ``1 / sqrt(2 D)``, so that the
        squared distance between a row and a column starts near 1, where the decoder's
        sigmoid is neither flat nor saturated.
        """
        self.feature_scale.fill_(1.0)
        propagated = self.second_hop(operator_out, self.hidden(operator_in, operator_out))
        mean = (propagated - self.reducers[0].mean(propagated)) @ self.mean_head
        spread = (self.reducers[0].std(mean) if self.reducers[0].count(mean.numel()) > 1
                  else torch.zeros((), device=mean.device))
        target = (2.0 * self.mean_head.shape[1]) ** -0.5
        if torch.isfinite(spread) and spread > 0:
            self.feature_scale.fill_(float(target / spread))
