"""The deep latent block model as one torch module: encoders, decoder, both priors and the
clustering heads."""

from torch import nn

from .decoders import LatentPositionDecoder
from .encoders import BipartiteGNNEncoder
from .facet_mixture import FacetMixturePrior
from .mixture import GaussianMixturePrior


class DeepLatentBlockModel(nn.Module):
    """Row and column encoders, the latent-position decoder and the two mixture priors.

    Each side's clustering head (:meth:`head`) is its mixture prior, or the clustering
    module attached by :meth:`attach_clustering_modules` (``clustering='module'``).

    Parameters
    ----------
    row_first_layer, column_first_layer : Tensor of shape (M, h) and (P, h)
        Initial first-layer weights of the row and column encoders.
    latent_dim : int
    n_row_clusters, n_column_clusters : int
    alpha_init : float
    row_offset_init, column_offset_init : Tensor or None
        Degree-correction offsets (None: no degree correction).
    log_var_floor : float
    share_first_layer : bool
    shared_variance : bool
    var_floor : float
    generator : torch.Generator
    mean_head_init : Tensor of shape (h, latent_dim), optional
        Initial mean head of both encoders (random when None).
    facet_cluster_counts : list of tuple of (int, int), optional
        ``(n_row_clusters, n_column_clusters)`` of each facet: the positions are split into
        that many equal blocks with one mixture each (docs/model.rst, "Facets"). None: one
        mixture.
    """

    def __init__(self, row_first_layer, column_first_layer, *, latent_dim, n_row_clusters,
                 n_column_clusters, alpha_init, row_offset_init, column_offset_init,
                 log_var_floor, share_first_layer, shared_variance, var_floor, generator,
                 mean_head_init=None, facet_cluster_counts=None):
        super().__init__()
        encoder_options = dict(log_var_floor=log_var_floor, share_first_layer=share_first_layer,
                               generator=generator, mean_head_init=mean_head_init)
        self.row_encoder = BipartiteGNNEncoder(row_first_layer, latent_dim, **encoder_options)
        self.column_encoder = BipartiteGNNEncoder(column_first_layer, latent_dim,
                                                  **encoder_options)
        self.decoder = LatentPositionDecoder(alpha_init, row_offset_init, column_offset_init)
        prior_options = dict(shared_variance=shared_variance, var_floor=var_floor)
        if facet_cluster_counts is None:
            self.row_prior = GaussianMixturePrior(n_row_clusters, latent_dim, **prior_options)
            self.column_prior = GaussianMixturePrior(n_column_clusters, latent_dim,
                                                     **prior_options)
        else:
            facet_dim = latent_dim // len(facet_cluster_counts)
            self.row_prior = FacetMixturePrior([rows for rows, _ in facet_cluster_counts],
                                               facet_dim, **prior_options)
            self.column_prior = FacetMixturePrior(
                [columns for _, columns in facet_cluster_counts], facet_dim, **prior_options)
        # Registered empty so that attaching the modules keeps them in this order.
        self.register_module("row_clustering", None)
        self.register_module("column_clustering", None)
        self.to(row_first_layer.device)

    def attach_clustering_modules(self, row_module, column_module):
        """Make clustering modules the two sides' heads (``clustering='module'``).

        They are registered sub-modules: trained with the networks (their parameters are in
        :meth:`network_parameters`), moved with the model and pickled with it.

        Parameters
        ----------
        row_module, column_module : ClusteringModule
        """
        self.row_clustering = row_module
        self.column_clustering = column_module

    def head(self, side):
        """The clustering head of a side: its clustering module if attached, else its prior.

        Parameters
        ----------
        side : {"row", "column"}

        Returns
        -------
        head : ClusteringHead
        """
        if side == "row":
            module, prior = self.row_clustering, self.row_prior
        else:
            module, prior = self.column_clustering, self.column_prior
        return prior if module is None else module

    def decoder_positions(self, row_positions, column_positions):
        """Positions as the decoder reads them (docs/model.rst, "Facets").

        With facets, facet ``j``'s coordinates are scaled by the square root of its fade-in
        weight; with one mixture they are returned unchanged.

        Parameters
        ----------
        row_positions : Tensor of shape (M, D)
        column_positions : Tensor of shape (P, D)

        Returns
        -------
        row_positions, column_positions : Tensor
        """
        return (self.row_prior.scale_positions(row_positions),
                self.column_prior.scale_positions(column_positions))

    def encode(self, adjacency, adjacency_t):
        """Posterior means and log-variances of every training row and column.

        Parameters
        ----------
        adjacency : Tensor of shape (M, P)
            The normalised matrix ``Abar`` (dense or sparse CSR).
        adjacency_t : Tensor of shape (P, M)
            Its transpose.

        Returns
        -------
        row_mean, row_log_var, column_mean, column_log_var : Tensor
            Shapes (M, D), (M,), (P, D), (P,).
        """
        row_mean, row_log_var = self.row_encoder(adjacency_t, adjacency)
        column_mean, column_log_var = self.column_encoder(adjacency, adjacency_t)
        return row_mean, row_log_var, column_mean, column_log_var

    def set_reducers(self, row_reducer, column_reducer):
        """Say how sums over each side's nodes run (``skcocluster.distributed``).

        Parameters
        ----------
        row_reducer, column_reducer : Reducer
            Sums over the rows (columns): the identity for a side held whole by this
            process, all-reduces for one split across processes.
        """
        self.row_encoder.reducers = (row_reducer, column_reducer)
        self.column_encoder.reducers = (column_reducer, row_reducer)
        self.row_prior.reducer = row_reducer
        self.column_prior.reducer = column_reducer

    def calibrate(self, adjacency, adjacency_t):
        """Fix the encoders' feature scales so the initial features have unit spread."""
        self.row_encoder.calibrate_scale(adjacency_t, adjacency)
        self.column_encoder.calibrate_scale(adjacency, adjacency_t)

    def network_parameters(self):
        """The parameters trained by gradient (encoders, decoder and any clustering modules;
        not the priors, which the explicit step updates)."""
        return [p for p in self.parameters() if p.requires_grad]
