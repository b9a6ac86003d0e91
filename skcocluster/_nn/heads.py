"""The interface every clustering head of one side's latent positions follows.

Four heads cluster positions: the closed-form Gaussian mixture and the facet mixture of
the deep latent block model, the learnt (gradient-trained) mixtures of the variational
model, and the clustering module. The estimators only ask a head for memberships and to
reorder its clusters; how it is trained belongs to the model's loop.
"""

from torch import nn


class ClusteringHead(nn.Module):
    """Clusters of one side's latent positions."""

    def memberships(self, mean, log_var=None):
        """Soft memberships of positions.

        Parameters
        ----------
        mean : Tensor of shape (n, D)
            Positions (posterior means, or draws).
        log_var : Tensor of shape (n,), optional
            Posterior log-variances, for heads whose memberships depend on them.

        Returns
        -------
        memberships : Tensor of shape (n, n_clusters)
            Rows sum to 1.
        """
        raise NotImplementedError

    def reorder(self, order):
        """Permute the clusters: new cluster ``k`` is old cluster ``order[k]``.

        Parameters
        ----------
        order : ndarray of shape (n_clusters,)
        """
        raise NotImplementedError
