"""Several facets of the latent positions, one Gaussian mixture per facet (docs/model.rst,
"Facets").

Each row's (column's) latent position of dimension ``J d`` is split into ``J`` consecutive
blocks of ``d`` coordinates, ``X_i = [X_i^1, ..., X_i^J]``, and each block has its own
Gaussian-mixture prior. The decoder reads ``alpha - sum_j w_j ||X_i^j - Y_k^j||^2``, where
the fade-in weight ``w_j`` ramps from 0 to 1 during progressive training and is 1 once
training is over; scaling facet ``j``'s coordinates of both sides by ``sqrt(w_j)`` gives
exactly that sum to the unchanged decoder.

The posterior of a node stays one isotropic Gaussian (one variance per node, shared by its
facets), so it factorises across facets and the optimal memberships factorise too: the
explicit step runs per facet, unchanged.
"""

import torch
from torch import nn

from .heads import ClusteringHead
from .mixture import GaussianMixturePrior


class FacetMixturePrior(ClusteringHead):
    """One side's mixture priors, one per facet, behind the single-mixture interface.

    The methods and attributes of :class:`GaussianMixturePrior` used by the single-partition
    code (``responsibilities``, ``update``, ``means``, ...) refer to facet 1, so the
    estimator's surface (labels, ``predict_proba``, block refinement) stays facet 1;
    ``explicit_step`` and ``prior_terms`` cover every facet.

    Parameters
    ----------
    cluster_counts : sequence of int
        Number of components of each facet's mixture (length ``n_facets``).
    facet_dim : int
        Coordinates per facet ``d`` (the positions have ``n_facets * d`` coordinates).
    shared_variance : bool
        See :func:`~skcocluster._nn.mixture.mixture_update`.
    var_floor : float
        Lower bound on the component variances.
    """

    def __init__(self, cluster_counts, facet_dim, *, shared_variance, var_floor):
        super().__init__()
        self.facet_dim = int(facet_dim)
        self.facets = nn.ModuleList([
            GaussianMixturePrior(int(k), self.facet_dim, shared_variance=shared_variance,
                                 var_floor=var_floor) for k in cluster_counts])
        # Progressive training starts with facet 1 alone.
        weights = torch.zeros(len(self.facets))
        weights[0] = 1.0
        self.register_buffer("weights", weights)

    @property
    def n_facets(self):
        """Number of facets ``J``."""
        return len(self.facets)

    def block(self, positions, facet):
        """Coordinates of facet ``facet`` (0-based), shape (n, d)."""
        start = facet * self.facet_dim
        return positions[:, start:start + self.facet_dim]

    # facet 1, as a single mixture ------------------------------------------------------
    @property
    def log_proportions(self):
        """Facet 1's log mixing proportions, shape (K_1,)."""
        return self.facets[0].log_proportions

    @property
    def means(self):
        """Facet 1's component means, shape (K_1, d)."""
        return self.facets[0].means

    @property
    def variances(self):
        """Facet 1's component variances, shape (K_1,)."""
        return self.facets[0].variances

    def kl(self, post_mean, post_log_var):
        """Facet 1's KL matrix, shape (n, K_1)."""
        return self.facets[0].kl(self.block(post_mean, 0), post_log_var)

    def responsibilities(self, post_mean, post_log_var):
        """Facet 1's memberships, shape (n, K_1)."""
        return self.facets[0].responsibilities(self.block(post_mean, 0), post_log_var)

    def memberships(self, mean, log_var=None):
        """Facet 1's memberships (``log_var`` is required), shape (n, K_1)."""
        return self.responsibilities(mean, log_var)

    def reorder(self, order):
        """Permute facet 1's components: new component ``k`` is old ``order[k]``."""
        self.facets[0].reorder(order)

    # every facet ---------------------------------------------------------------------
    def facet_responsibilities(self, post_mean, post_log_var):
        """Memberships of every facet: a list of ``n_facets`` tensors of shape (n, K_j)."""
        return [prior.responsibilities(self.block(post_mean, j), post_log_var)
                for j, prior in enumerate(self.facets)]

    @torch.no_grad()
    def update(self, resp, post_mean, post_log_var):
        """Closed-form update from memberships.

        ``resp`` is a list with one tensor per facet (every facet is updated), or one
        tensor (facet 1 only: the others keep their parameters).
        """
        resp_list = resp if isinstance(resp, (list, tuple)) else [resp]
        for j, facet_resp in enumerate(resp_list):
            self.facets[j].update(facet_resp, self.block(post_mean, j), post_log_var)

    @torch.no_grad()
    def explicit_step(self, post_mean, post_log_var):
        """One E then M step per facet; facets not yet faded in keep their parameters.

        Returns
        -------
        resp : tuple of Tensor
            The memberships used, one tensor of shape (n, K_j) per facet.
        """
        resp = []
        for j, prior in enumerate(self.facets):
            block = self.block(post_mean, j)
            if self.weights[j] > 0:
                resp.append(prior.explicit_step(block, post_log_var))
            else:
                resp.append(prior.responsibilities(block, post_log_var))
        return tuple(resp)

    def facet_prior_terms(self, resp, post_mean, post_log_var):
        """``- sum gamma KL + sum gamma log(pi / gamma)`` of each facet, unweighted.

        Parameters
        ----------
        resp : list of Tensor or Tensor
            Memberships of every facet, or of facet 1 only (the other facets then use
            their current memberships).

        Returns
        -------
        terms : Tensor of shape (n_facets,)
        """
        if not isinstance(resp, (list, tuple)):
            others = [prior.responsibilities(self.block(post_mean, j), post_log_var)
                      for j, prior in enumerate(self.facets) if j > 0]
            resp = [resp] + others
        return torch.stack([prior.prior_terms(facet_resp, self.block(post_mean, j),
                                              post_log_var)
                            for j, (prior, facet_resp) in enumerate(zip(self.facets, resp))])

    def prior_terms(self, resp, post_mean, post_log_var):
        """Sum over facets of the fade-in weight times the facet's prior terms (a scalar)."""
        return (self.weights * self.facet_prior_terms(resp, post_mean, post_log_var)).sum()

    def scale_positions(self, positions):
        """Positions with facet ``j``'s coordinates scaled by ``sqrt(w_j)``.

        The decoder's squared distance between two scaled positions is
        ``sum_j w_j ||X^j - Y^j||^2``.
        """
        if bool((self.weights == 1).all()):
            return positions
        scale = self.weights.clamp(min=0).sqrt().repeat_interleave(self.facet_dim)
        return positions * scale.to(positions.dtype)


def facet_sq_distances(row_positions, column_positions, n_facets):
    """Squared distance of each row to each column, facet by facet.

    Parameters
    ----------
    row_positions : Tensor of shape (n_rows, n_facets * d)
    column_positions : Tensor of shape (n_columns, n_facets * d)
    n_facets : int

    Returns
    -------
    sq_dist : Tensor of shape (n_facets, n_rows, n_columns)
    """
    rows = row_positions.reshape(row_positions.shape[0], n_facets, -1).transpose(0, 1)
    columns = column_positions.reshape(column_positions.shape[0], n_facets, -1).transpose(0, 1)
    return torch.cdist(rows, columns).pow(2)
