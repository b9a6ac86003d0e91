"""Gaussian-mixture prior over one side's latent positions and its closed-form update.

docs/model.rst, "ELBO" and "Explicit step". Rows and columns use the same functions; the
caller passes the posterior means and log-variances of one side.
"""

import math

import numpy as np
import torch

from .._parallel.reducer import IDENTITY
from .heads import ClusteringHead

# Proportions never reach exactly 0, so log(pi) stays finite when a cluster empties.
MIN_PROPORTION = 1e-8
# Responsibility mass under which a cluster counts as empty for the mean/variance update.
EMPTY_CLUSTER_MASS = 1e-6


def gaussian_kl_matrix(post_mean, post_log_var, comp_means, comp_vars):
    """KL divergence from each isotropic posterior to each mixture component.

    ``KL_ik = 1/2 (D log(s_k^2 / v_i) - D + D v_i / s_k^2 + ||m_k - mu_i||^2 / s_k^2)``

    Parameters
    ----------
    post_mean : Tensor of shape (n, D)
    post_log_var : Tensor of shape (n,)
        Log of the posterior variance ``v_i`` (one scalar per node).
    comp_means : Tensor of shape (K, D)
    comp_vars : Tensor of shape (K,)

    Returns
    -------
    kl : Tensor of shape (n, K)
    """
    latent_dim = post_mean.shape[1]
    sq_dist = (post_mean.pow(2).sum(1, keepdim=True) + comp_means.pow(2).sum(1)
               - 2.0 * post_mean @ comp_means.T).clamp(min=0)
    post_var = post_log_var.exp()[:, None]
    return 0.5 * (latent_dim * (comp_vars.log()[None, :] - post_log_var[:, None])
                  - latent_dim
                  + latent_dim * post_var / comp_vars[None, :]
                  + sq_dist / comp_vars[None, :])


def responsibilities(kl, log_proportions):
    """``gamma_ik ∝ pi_k exp(-KL_ik)``, normalised in log space.

    Returns
    -------
    resp : Tensor of shape (n, K)
    """
    return torch.softmax(log_proportions[None, :] - kl, dim=1)


def mixture_update(resp, post_mean, post_log_var, *, shared_variance, var_floor,
                   reducer=IDENTITY):
    """Closed-form proportions, means and variances given responsibilities.

    Means use the responsibilities; variances use the *new* means. An empty cluster
    (responsibility mass under ``EMPTY_CLUSTER_MASS``) keeps a proportion of
    ``MIN_PROPORTION``, takes the posterior mean of the node it explains best as its
    mean, and the average variance of the side, so it can be re-populated later.

    Parameters
    ----------
    resp : Tensor of shape (n, K)
    post_mean : Tensor of shape (n, D)
    post_log_var : Tensor of shape (n,)
    shared_variance : bool
        One variance for all components of the side (True) or one per component.
    var_floor : float
        Lower bound on every component variance.
    reducer : Reducer, default=IDENTITY
        Sums the statistics over the processes that share the side's nodes.

    Returns
    -------
    proportions : Tensor of shape (K,)
    means : Tensor of shape (K, D)
    variances : Tensor of shape (K,)
    """
    latent_dim = post_mean.shape[1]
    n_nodes = reducer.count(post_mean.shape[0])
    mass = reducer.sum(resp.sum(0))
    empty = mass < EMPTY_CLUSTER_MASS
    safe_mass = mass.clamp(min=EMPTY_CLUSTER_MASS)
    proportions = (mass / n_nodes).clamp(min=MIN_PROPORTION)
    proportions = proportions / proportions.sum()
    means = reducer.sum(resp.T @ post_mean) / safe_mass[:, None]
    # torch.where rather than ``if empty.any()``: no read-back to the host (GPU) per step.
    means = torch.where(empty[:, None], reducer.rows_of_best(resp, post_mean), means)
    sq_dist = (post_mean.pow(2).sum(1, keepdim=True) + means.pow(2).sum(1)
               - 2.0 * post_mean @ means.T).clamp(min=0)
    spread = resp * (latent_dim * post_log_var.exp()[:, None] + sq_dist)  # (n, K)
    spread_total = reducer.sum(spread.sum())
    if shared_variance:
        variance = spread_total / (latent_dim * n_nodes)
        variances = variance.expand(resp.shape[1]).clone()
    else:
        variances = torch.where(empty, spread_total / (latent_dim * n_nodes),
                                reducer.sum(spread.sum(0)) / (latent_dim * safe_mass))
    return proportions, means, variances.clamp(min=var_floor)


def entropy_terms(resp, log_proportions):
    """``sum_ik gamma_ik log(pi_k / gamma_ik)``, with 0 log 0 = 0."""
    log_resp = torch.log(resp.clamp(min=torch.finfo(resp.dtype).tiny))
    return (resp * (log_proportions[None, :] - log_resp)).sum()


class GaussianMixturePrior(ClusteringHead):
    """The mixture parameters of one side, held as buffers (updated in closed form).

    Parameters
    ----------
    n_components : int
    latent_dim : int
    shared_variance : bool
        See :func:`mixture_update`.
    var_floor : float
        Lower bound on the component variances.

    Attributes
    ----------
    reducer : Reducer
        Sums over the side's nodes; the identity unless they are split over processes.
    """

    reducer = IDENTITY

    def __init__(self, n_components, latent_dim, *, shared_variance, var_floor):
        super().__init__()
        self.shared_variance = bool(shared_variance)
        self.var_floor = float(var_floor)
        self.register_buffer("log_proportions",
                             torch.full((n_components,), -math.log(n_components)))
        self.register_buffer("means", torch.zeros(n_components, latent_dim))
        self.register_buffer("variances", torch.ones(n_components))

    def kl(self, post_mean, post_log_var):
        """KL matrix of shape (n, K) from each posterior to each component."""
        return gaussian_kl_matrix(post_mean, post_log_var, self.means, self.variances)

    def responsibilities(self, post_mean, post_log_var):
        """Posterior memberships of shape (n, K) under the current parameters."""
        return responsibilities(self.kl(post_mean, post_log_var), self.log_proportions)

    def memberships(self, mean, log_var=None):
        """Posterior memberships (:meth:`responsibilities`; ``log_var`` is required).

        Parameters
        ----------
        mean : Tensor of shape (n, D)
        log_var : Tensor of shape (n,)
            The KL to each component depends on the posterior variance.

        Returns
        -------
        memberships : Tensor of shape (n, K)
        """
        return self.responsibilities(mean, log_var)

    @torch.no_grad()
    def reorder(self, order):
        """Permute the components: new component ``k`` is old component ``order[k]``.

        Parameters
        ----------
        order : ndarray of shape (K,)
        """
        index = torch.as_tensor(np.asarray(order), device=self.means.device)
        for buffer in (self.log_proportions, self.means, self.variances):
            buffer.copy_(buffer[index])

    def scale_positions(self, positions):
        """Positions as the decoder reads them: unchanged with one mixture.

        Parameters
        ----------
        positions : Tensor of shape (n, D)

        Returns
        -------
        positions : Tensor of shape (n, D)
            The same tensor.
        """
        return positions

    @torch.no_grad()
    def update(self, resp, post_mean, post_log_var):
        """Set the parameters to their closed-form values given responsibilities."""
        proportions, means, variances = mixture_update(
            resp, post_mean, post_log_var,
            shared_variance=self.shared_variance, var_floor=self.var_floor,
            reducer=self.reducer)
        self.log_proportions.copy_(proportions.log())
        self.means.copy_(means)
        self.variances.copy_(variances)

    @torch.no_grad()
    def explicit_step(self, post_mean, post_log_var):
        """One E then M step (docs/model.rst, "Explicit step").

        Returns
        -------
        resp : Tensor of shape (n, K)
            The responsibilities used by the M step.
        """
        resp = self.responsibilities(post_mean, post_log_var)
        self.update(resp, post_mean, post_log_var)
        return resp

    def prior_terms(self, resp, post_mean, post_log_var):
        """``- sum gamma KL + sum gamma log(pi / gamma)`` for this side (a scalar).

        With the side's nodes on several processes, this process's part of it.
        """
        kl = self.kl(post_mean, post_log_var)
        return self.reducer.own_share(-(resp * kl).sum()
                                      + entropy_terms(resp, self.log_proportions))
