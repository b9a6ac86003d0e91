"""The AE-CM clustering module of one side (``clustering='module'``; docs/model.rst, "The
clustering module").

A differentiable clustering head (Boubekki et al., Machine Learning 2021) that replaces the
closed-form mixture step: memberships are a softmax of the latent positions,
the centroids are free parameters, and both are trained by gradient together with the
encoders. The module sees the side's posterior means *standardised* (centred, with unit
mean variance per coordinate, statistics held as buffers), as AE-CM standardises its
data: its loss assumes isotropic unit-scale clusters (covariance ``I / 2``), which raw
latent positions (whose scale the decoder fixes) are not.

With ``z`` the standardised positions (n, D), ``M = W_dec`` (K, D)::

    G = softmax(z W_enc + b_enc)                         (n, K)  memberships
    mu_k = W_dec[k] + b_dec                              centroids
    L_CM = n [ mean_i sum_k G_ik ||z_i - mu_k||^2        soft k-means distortion
               + sum_k (1 - a) log gbar_k                Dirichlet balance prior
               + lambda ||M M^T - I||_1 ]                orthonormal centroids

with ``gbar_k = mean_i G_ik`` over the whole side. AE-CM's loss is a mean over a batch;
here it is multiplied by the number of nodes ``n`` so that it is on the scale of the
ELBO's per-node mixture terms it replaces, and the balance prior keeps the same weight
relative to the distortion on both sides, whatever their sizes. The orthonormality acts on
``W_dec`` only (the centroids relative to their common offset ``b_dec``), so it shapes the
centroids without pinning the cloud to the origin.
"""

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn

from .heads import ClusteringHead

# gbar_k is floored before its log, so an emptied cluster gives a large, finite loss.
MIN_MEAN_MEMBERSHIP = 1e-8
# Coordinates whose variance is under this are not rescaled (a degenerate side).
MIN_STANDARD_VARIANCE = 1e-12


class ClusteringModule(ClusteringHead):
    """Clustering module of one side (rows or columns).

    Parameters
    ----------
    n_clusters : int
        Number of clusters K of the side.
    latent_dim : int
        Dimension D of the latent positions.
    concentration : float
        Dirichlet concentration ``a`` (symmetric); ``a > 1`` favours balanced clusters.
    orthonormality : float
        Weight ``lambda`` of the orthonormal-centroid penalty.
    """

    def __init__(self, n_clusters, latent_dim, *, concentration, orthonormality):
        super().__init__()
        self.concentration = float(concentration)
        self.orthonormality = float(orthonormality)
        self.encoder_weight = nn.Parameter(torch.zeros(latent_dim, n_clusters))
        self.encoder_bias = nn.Parameter(torch.zeros(n_clusters))
        self.decoder_weight = nn.Parameter(torch.zeros(n_clusters, latent_dim))
        self.decoder_bias = nn.Parameter(torch.zeros(latent_dim))
        self.register_buffer("centre", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(()))

    # ------------------------------------------------------------------ forward
    def standardise(self, post_mean):
        """Positions in the module's standardised coordinates (same shape)."""
        return (post_mean - self.centre) * self.scale

    def memberships(self, post_mean, log_var=None):
        """``G = softmax(z W_enc + b_enc)``, shape (n, K); ``log_var`` is not used."""
        logits = self.standardise(post_mean) @ self.encoder_weight + self.encoder_bias
        return torch.softmax(logits, dim=1)

    def centroids(self):
        """Centroids ``W_dec + b_dec`` in standardised coordinates, shape (K, D)."""
        return self.decoder_weight + self.decoder_bias

    def loss(self, post_mean):
        """``L_CM`` (a scalar tensor) and the memberships ``G`` of ``post_mean``.

        Returns
        -------
        loss : Tensor (scalar)
        memberships : Tensor of shape (n, K)
        """
        points = self.standardise(post_mean)
        memberships = torch.softmax(points @ self.encoder_weight + self.encoder_bias, dim=1)
        n_nodes = points.shape[0]
        return n_nodes * self.loss_terms(points, memberships).sum(), memberships

    def loss_terms(self, points, memberships):
        """The three per-node terms of ``L_CM``: distortion, balance prior, orthonormality.

        Returns
        -------
        terms : Tensor of shape (3,)
        """
        centroids = self.centroids()
        sq_dist = (points.pow(2).sum(1, keepdim=True) + centroids.pow(2).sum(1)
                   - 2.0 * points @ centroids.T).clamp(min=0)
        distortion = (memberships * sq_dist).sum(1).mean()
        mean_membership = memberships.mean(0).clamp(min=MIN_MEAN_MEMBERSHIP)
        balance = ((1.0 - self.concentration) * mean_membership.log()).sum()
        gram = self.decoder_weight @ self.decoder_weight.T
        identity = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        orthonormal = self.orthonormality * (gram - identity).abs().sum()
        return torch.stack([distortion, balance, orthonormal])

    # ------------------------------------------------------------------ set-up
    @torch.no_grad()
    def set_standardisation(self, post_mean):
        """Centre on the side's mean and scale to unit mean variance per coordinate."""
        self.centre.copy_(post_mean.mean(0))
        variance = float((post_mean - post_mean.mean(0)).pow(2).mean()) if len(post_mean) else 0.0
        self.scale.fill_(variance ** -0.5 if variance > MIN_STANDARD_VARIANCE else 1.0)

    @torch.no_grad()
    def initialise(self, post_mean, seed):
        """AE-CM's start: k-means++ centroids as ``W_dec``, a pseudo-inverse encoder.

        ``[W_enc; b_enc] = pinv([W_dec, 1])`` (AE-CM's ``pinv(W_dec)`` with null biases
        fails on centred points, whose centroids are linearly dependent); ``b_dec = 0``.

        Parameters
        ----------
        post_mean : Tensor of shape (n, D)
            The pretrained posterior means of the side.
        seed : int
            Seeds k-means.
        """
        self.set_standardisation(post_mean)
        points = self.standardise(post_mean).cpu().double().numpy()
        n_clusters = self.decoder_weight.shape[0]
        centroids = KMeans(n_clusters, init="k-means++", n_init=3,
                           random_state=seed).fit(points).cluster_centers_
        # The centroids of centred points are linearly dependent (their weighted sum is
        # 0), so pinv(W_dec) alone blows up along that dependence; the pseudo-inverse of
        # the affine map [W_dec, 1] gives weights and bias with c_k W_enc + b_enc = e_k.
        encoder = np.linalg.pinv(np.hstack([centroids, np.ones((n_clusters, 1))]))
        device = self.decoder_weight.device
        self.decoder_weight.copy_(torch.as_tensor(centroids, dtype=torch.float32, device=device))
        self.encoder_weight.copy_(torch.as_tensor(encoder[:-1], dtype=torch.float32,
                                                  device=device))
        self.encoder_bias.copy_(torch.as_tensor(encoder[-1], dtype=torch.float32,
                                                device=device))
        self.decoder_bias.zero_()

    @torch.no_grad()
    def reorder(self, order):
        """Permute the clusters: new cluster k is old cluster ``order[k]``."""
        index = torch.as_tensor(np.asarray(order), device=self.decoder_weight.device)
        self.encoder_weight.copy_(self.encoder_weight[:, index])
        self.encoder_bias.copy_(self.encoder_bias[index])
        self.decoder_weight.copy_(self.decoder_weight[index])
