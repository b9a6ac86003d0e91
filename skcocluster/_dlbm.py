"""DeepLatentBlockCoclustering: the estimator's parameters and the wiring of its torch model."""

import numbers
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseCoclustering
from ._data.device import (cell_data, layout_is_dense, prepare_training_data,
                           to_torch_operator)
from ._fold_in import fold_in_row_offsets
from ._likelihoods import make_likelihood
from ._nn.decoders import LatentPositionDecoder
from ._nn.encoders import propagate
from ._objective.reconstruction import reconstruction_term, sample_positions
from ._options.facets import check_facet_schedule, facet_attributes, facet_results
from ._options.wiring import deep_memberships, option_configs, reorder_module_clusters
from ._refine.facets import refine_facet_memberships
from ._refine.stage import RefinementStage
from ._train.dlbm import FINAL_BOUND_SEED, FINAL_SAMPLE_FACTOR, TrainingConfig, fit_once

# Above this many cells, reconstruction='auto' estimates the all-cells sum from samples.
SAMPLED_CELLS_THRESHOLD = 10 ** 7
# New rows or columns encoded per batch by predict, transform and elbo.
ENCODE_BATCH_NODES = 2 ** 16


class DeepLatentBlockCoclustering(BaseCoclustering):
    """Deep latent block model co-clustering.

    Rows and columns get Gaussian latent positions from two bipartite graph neural network
    encoders; Gaussian-mixture priors over the two latent spaces carry the row and column
    clusters; a cell links with probability ``sigmoid(alpha - ||X_i - Y_j||^2)``. Training
    alternates closed-form updates of the memberships and mixtures with Adam steps on the
    networks. A drop-in replacement for :class:`sklearn.cluster.SpectralCoclustering`
    (``n_clusters=k``) and :class:`sklearn.cluster.SpectralBiclustering`
    (``n_clusters=(L, Q)``).

    Parameters
    ----------
    n_clusters : int, tuple of (int, int) or 'auto', default=3
        ``k``: k row clusters and k column clusters, paired into k biclusters (column
        cluster k is the one row cluster k links to most). ``(L, Q)``: L row and Q column
        clusters forming an L x Q checkerboard of biclusters. ``'auto'``: L and Q are
        chosen before the deep model is fitted, as the pair of highest integrated
        completed likelihood (ICL) of the latent block model (degree-corrected for
        non-negative cells where row and column totals vary), searched on a greedy path
        from (1, 1) with block-model EM fits from spectral k-means starts (at most 30
        clusters per side); the deep model is then fitted once, and the biclusters are the
        L x Q checkerboard. It costs a few block-model EM fits per pair scored: about
        a second on 300 x 200, 5 s on 1000 x 800, but on document corpora, where it
        chooses many clusters, from 3 CPU seconds (cstr) to several times a default fit
        (reviews as ``X > 0``: about 5 minutes; ``benchmarks/README.md``);
        ``n_row_clusters_``, ``n_column_clusters_`` and ``cluster_count_scores_``
        report the choice (user guide, "Choosing the number of clusters"). Not
        available with ``n_facets > 1``.
    latent_dim : int, default=8
        Dimension D of the latent positions.
    hidden_dim : int, default=64
        Width of the encoders' hidden layer.
    n_init : int, default=1
        Number of restarts; the one with the highest final ELBO is kept.
    init : {'spectral', 'random', 'alternate'}, default='spectral'
        First-layer initialisation: the leading singular vectors of the normalised matrix,
        random Gaussian weights, or spectral and random in turn over the restarts.
    pretrain_epochs : int, default=200
        Most epochs of graph-autoencoder pretraining before the k-means start; it stops
        earlier, at the end of a window of 10 epochs, once a k-means partition of the
        positions agrees with the one of the window before (ARI 0.98 on both sides).
    max_iter : int, default=300
        Most epochs (explicit step + Adam step) after pretraining; training stops earlier
        by ``tol``, or once at most 0.3% of the rows and columns changed cluster over a
        window of 10 epochs (with ``n_facets > 1``, the facets' own rule on settled
        labels replaces the latter).
    learning_rate : float, default=0.01
        Adam step size of the alternating phase (pretraining uses twice this).
    tol : float, default=1e-4
        Stop when the mean ELBO of the last 10 epochs improves on the 10 before by less
        than ``tol`` times its magnitude.
    log_var_floor : float, default=-10.0
        Lower bound on the posterior log-variances (a floor as high as -3 merges weak clusters:
        ``docs/model.rst``).
    share_first_layer : bool, default=True
        Whether the mean and variance heads share the encoders' first layer.
    cluster_variance : {'shared', 'per_cluster'}, default='shared'
        One variance for all the clusters of a side, or one per cluster (the original
        model's form, which lets one broad component swallow others on degree-heterogeneous
        data).
    likelihood : {'auto', 'bernoulli', 'poisson', 'gaussian'}, default='auto'
        Distribution of a cell given the positions. 'bernoulli': binary or [0, 1] values,
        ``eta`` is the logit; 'poisson': non-negative values (counts, tf-idf), ``eta`` is the
        log-rate; 'gaussian': real values, ``eta`` is the mean, with one noise variance.
        'auto' takes 'bernoulli' for binary X, 'poisson' for other non-negative X and
        'gaussian' otherwise; the choice is stored in ``likelihood_``.
    degree_correction : bool, default=True
        Add a per-row and a per-column offset to the decoder's output
        (``alpha + a_i + b_j - ||X_i - Y_j||^2``, started from the row and column means,
        then trained), so that row and column totals (long and short documents, common and
        rare words) do not drive the clusters. New rows get the offset that maximises the
        likelihood of their own cells (so ``elbo`` compares like with like). On by
        default: measured in ``benchmarks/README.md`` (document NMI on the four corpora,
        planted block matrices with and without degree factors, grid search over
        ``n_clusters``). False is the plain latent position model.
    block_refinement : bool, default=True
        After the deep model, refine its partition (and the restart's starting partition)
        by variational EM of the plain and of the degree-corrected latent block models,
        and report the candidate that fills every cluster and best predicts a fixed sample
        of held-out cells; the deep partition itself is a candidate. Where the block
        model is not adequate to the matrix (a model giving each column, or each row, its
        own profile over the clusters predicts the held-out cells better, as on
        document x word corpora) the deep partition is kept instead (user guide,
        section on ``block_refinement`` and ``refined_from_``).
        ``refined_from_`` says which was kept; ``predict_proba`` then uses the model that
        produced it. The latent mixtures are refitted to the reported memberships, so
        ``row_means_`` etc. describe them. False reports the deep model's partition.
        With ``n_facets > 1`` the plain block models are not used (they explain the matrix
        with one row partition and pull facet 1 towards a mix of the facets); instead each
        facet's memberships are refined by EM of a block model given the other facets'
        labels (user guide, "Several facets"), the mixtures are refitted to them, and
        ``predict_proba`` uses facet 1's refitted mixture.
    clustering : {'gmm', 'module'}, default='gmm'
        How the deep model clusters the latent positions. 'gmm': the Gaussian mixtures,
        updated in closed form at every epoch. 'module': a clustering module on each side
        (AE-CM, Boubekki et al. 2021): memberships ``G = softmax(z W_enc + b_enc)`` of the
        standardised posterior means ``z``, centroids ``W_dec + b_dec``, trained by
        gradient with the encoders on a soft k-means loss with a Dirichlet balance prior
        and an orthonormal-centroid penalty, in place of the mixture KL; started by
        k-means++ and a pseudo-inverse encoder, warmed up alone, and closed by an averaging
        epoch. The deep memberships are then ``G``, and the mixtures are refitted to them.
        ``lower_bound_`` is then the module's objective per cell, not an ELBO. With
        ``block_refinement`` the module's partition is one candidate among the
        refinements (user guide, "The clustering module"). Not available with
        ``n_facets > 1``.
    module_concentration : float, default=2.0
        Concentration ``a >= 1`` of the module's symmetric Dirichlet prior on the mean
        memberships; larger values push harder towards clusters of equal size (1 turns the
        balance prior off). Used with ``clustering='module'``.
    module_orthonormality : float, default=0.01
        Weight of the module's penalty ``||W W^T - I||_1`` on its centroids (in
        standardised coordinates; it needs ``latent_dim >= n_clusters`` to be satisfiable).
        Used with ``clustering='module'``.
    graph_weight : float, default=0.0
        Weight ``beta`` of the neighbour-graph regulariser (DGG, Yang et al. 2019):
        ``beta sum_ij w_ij [SKL(q(X_i), q(X_j)) + JS(gamma_i, gamma_j)]`` over a kNN graph
        of the rows and one of the columns is subtracted from the objective, so that
        neighbours get close positions and similar memberships. The graphs are built once
        from a randomised truncated SVD of the normalised matrix (cosine distance, never
        ``A A^T``); ``fit(X, row_graph=G)`` replaces the rows' graph by a given one.
        ``beta`` is raised from 0 over the first 50 epochs; the log-variances are floored
        at 0 inside the symmetric KL, which is then ``||m_i - m_j||^2`` for well-observed
        nodes. 0 turns it off. ``lower_bound_`` then includes the regulariser.
    n_neighbors : int, default=15
        Neighbours of each row (column) in the kNN graphs of ``graph_weight``.
    reconstruction : {'auto', 'exact', 'sampled'}, default='auto'
        How the sum over all cells of the likelihood is computed during training and by
        (:meth:`elbo`): exactly (in chunks, never holding M x P with its gradient graph) or
        estimated from uniformly sampled cells (unbiased). 'auto' samples above 1e7 cells
        (on Classic3, 3891 x 4303, sampling halves the time for the same partition). The
        final bound and ``elbo`` then draw four times as many cells, with a fixed seed.
    n_sampled_cells : int or None, default=None
        Cells drawn per epoch when sampling; None draws as many as X has nonzeros
        (at least 100000).
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to train. 'auto' takes a CUDA device when one is available.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the Monte Carlo draws and k-means; an int makes fits
        reproducible (on the same device and library versions).
    verbose : int, default=0
        0 prints nothing; 1 reports each restart (and shows a progress bar with the
        current objective when tqdm is installed); 2 also prints every 50 epochs.
    n_facets : int, default=1
        Number J of facets: independent partitions of the rows (and of the columns),
        learnt together. Each latent position is split into J blocks of ``latent_dim``
        coordinates (``latent_dim`` is per facet: the positions have
        ``n_facets * latent_dim`` coordinates), each block with its own Gaussian mixture
        on each side; the decoder reads ``alpha - sum_j ||X_i^j - Y_k^j||^2``. With
        ``n_facets > 1``, ``n_clusters`` may be a list with one entry per facet, each an
        int ``k`` or a pair ``(L, Q)``; an int or a tuple is used for every facet. An int
        ``k >= 2`` then means ``k`` row clusters, ``k`` column clusters paired with them, and
        one more column cluster for the columns the facet does not affect (listed last,
        in no bicluster); a pair means exactly ``L`` row and ``Q`` column clusters. The
        reported partition (``row_labels_``, ``biclusters_``, ``predict``...) is facet 1;
        see ``row_labels_facets_``. ``block_refinement`` then refines each facet given
        the others. 1 is the plain model. User guide, "Several facets".
    facet_fade_epochs : int, default=50
        Progressive training with ``n_facets > 1``: facet 1 alone during pretraining,
        then, from the first epoch of the alternating phase, each further facet faded in
        (its distance contribution and KL weight ramped from 0 to 1) over
        ``facet_fade_epochs`` epochs, one after the other. ``max_iter`` must be at least
        ``(n_facets - 1) * facet_fade_epochs``. Once every facet has weight 1, training
        stops by ``tol`` or when the facets' labels have settled (user guide).
    n_jobs : int or None, default=None
        Threads that ``fit`` and the prediction methods compute with (torch, BLAS and
        OpenMP alike), restored when they return. None means 1 (unless in a
        ``joblib.parallel_config`` context), -1 every core. One thread is the default
        because torch's default of one thread per core is several times slower as soon
        as another process is busy (a second fit, ``GridSearchCV(n_jobs=2)``, a test
        runner); on an otherwise idle machine, ``n_jobs=-1`` speeds up large fits
        (measured: ``benchmarks/README.md``, "Threads").

    Attributes
    ----------
    row_labels_ : ndarray of shape (n_rows,)
        Row cluster of each training row.
    column_labels_ : ndarray of shape (n_columns,)
        Column cluster of each training column.
    rows_ : ndarray of shape (n_biclusters, n_rows), dtype=bool
        Row indicators of each bicluster.
    columns_ : ndarray of shape (n_biclusters, n_columns), dtype=bool
        Column indicators of each bicluster.
    biclusters_ : tuple of two ndarrays
        ``(rows_, columns_)``, as for scikit-learn's biclustering estimators.
    row_memberships_ : ndarray of shape (n_rows, n_row_clusters)
        Soft row memberships (the variational ``gamma``).
    column_memberships_ : ndarray of shape (n_columns, n_column_clusters)
        Soft column memberships (the variational ``delta``).
    row_embedding_ : ndarray of shape (n_rows, n_facets * latent_dim)
        Posterior means of the row positions (facet ``j``'s coordinates are the ``j``-th
        block of ``latent_dim`` columns).
    column_embedding_ : ndarray of shape (n_columns, n_facets * latent_dim)
        Posterior means of the column positions.
    row_proportions_, column_proportions_ : ndarray of shape (n_row_clusters,), (n_column_clusters,)
        Mixture proportions ``pi`` and ``tau``.
    row_means_, column_means_ : ndarray of shape (n_*_clusters, latent_dim)
        Mixture component means (of facet 1 when ``n_facets > 1``).
    row_variances_, column_variances_ : ndarray of shape (n_*_clusters,)
        Mixture component variances (equal within a side when ``cluster_variance='shared'``).
    alpha_ : float
        Decoder intercept.
    block_probabilities_ : ndarray of shape (n_row_clusters, n_column_clusters)
        Mean cell value of each block under the soft memberships: the block connection
        probabilities for binary data, the block rates (Poisson) or means (Gaussian).
    likelihood_ : str
        The likelihood used ('auto' resolved).
    refined_from_ : str
        With ``block_refinement``, where the reported partition comes from: 'deep',
        'deep + block EM', 'deep + degree-corrected EM', the same from 'start' (k-means on
        the encoders' initial positions), or 'start' itself; 'deep (rows), X (columns)'
        (or the reverse) where the deep partition is kept but leaves a cluster of one
        side empty, that side coming from candidate X.
    lower_bound_ : float
        ELBO per cell of the kept restart (exact over all cells, one fixed draw).
    elbo_history_ : ndarray of shape (`n_iter_`,)
        ELBO per cell at each epoch of the kept restart (one Monte Carlo draw each).
    pretrain_history_ : ndarray of shape (n_pretrain_epochs,)
        Pretraining objective per cell at each epoch of the kept restart (at most
        ``pretrain_epochs`` epochs: pretraining stops once the positions settle).
    n_iter_ : int
        Epochs of the alternating phase of the kept restart.
    converged_ : bool
        Whether the kept restart stopped by ``tol`` before ``max_iter``.
    device_ : torch.device
        Device the model was trained on (the fitted model itself is kept on the CPU).
    row_labels_facets_ : ndarray of shape (n_facets, n_rows)
        Row cluster of each training row in each facet; row 0 is ``row_labels_``.
    column_labels_facets_ : ndarray of shape (n_facets, n_columns)
        Column cluster of each training column in each facet; row 0 is ``column_labels_``.
    row_memberships_facets_ : list of ndarray
        Soft row memberships of each facet, of shape (n_rows, n_row_clusters of the facet);
        the first is ``row_memberships_``.
    column_memberships_facets_ : list of ndarray
        Soft column memberships of each facet; the first is ``column_memberships_``.
    row_facet_kl_, column_facet_kl_ : ndarray of shape (n_facets,)
        Mean over the rows (columns) of the KL divergence from the posterior of a facet
        (position block and membership) to its mixture prior, in nats. A facet the decoder
        does not use (a dead facet) has its positions collapse onto few points and a KL
        near 0.
    facet_row_ari_, facet_column_ari_ : ndarray of shape (n_facets, n_facets)
        Adjusted Rand index between the row (column) labels of every pair of facets.
        A ``ConvergenceWarning`` is raised when two facets' row partitions agree with an
        ARI of 0.9 or more (both with more than one cluster).
    n_row_clusters_, n_column_clusters_ : int
        Numbers of row and column clusters of the reported partition (with
        ``n_clusters='auto'``, the chosen ones).
    cluster_count_scores_ : dict of (int, int) to float
        With ``n_clusters='auto'`` only: the ICL of every pair ``(L, Q)`` the search
        scored (higher is better; the chosen pair has the highest).
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X was a DataFrame with string column names.

    See Also
    --------
    sklearn.cluster.SpectralCoclustering : Spectral co-clustering (Dhillon, 2001).
    sklearn.cluster.SpectralBiclustering : Spectral checkerboard biclustering.

    Examples
    --------
    >>> from skcocluster import DeepLatentBlockCoclustering
    >>> from skcocluster.datasets import make_lbm
    >>> from skcocluster.metrics import coclustering_adjusted_rand_score
    >>> X, rows, cols = make_lbm(300, 200, 3, block_params=[[.6, .1, .1], [.1, .6, .1],
    ...                          [.1, .1, .6]], random_state=0)
    >>> model = DeepLatentBlockCoclustering(n_clusters=3, random_state=0).fit(X)
    >>> round(coclustering_adjusted_rand_score(rows, cols, model.row_labels_,
    ...                                        model.column_labels_), 2)
    1.0
    """

    # Where the block model is not adequate to the matrix, the deep partition, from the
    # richer latent-position model, is kept (docs/model.rst, "The final partition").
    _refinement_stage = RefinementStage(own_name="deep", keep_own_if_inadequate=True)

    _parameter_constraints = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), tuple, list,
                       StrOptions({"auto"})],
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "init": [StrOptions({"spectral", "random", "alternate"})],
        "pretrain_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "log_var_floor": [Interval(numbers.Real, None, None, closed="neither")],
        "share_first_layer": ["boolean"],
        "cluster_variance": [StrOptions({"shared", "per_cluster"})],
        "likelihood": [StrOptions({"auto", "bernoulli", "poisson", "gaussian"})],
        "degree_correction": ["boolean"],
        "block_refinement": ["boolean"],
        "clustering": [StrOptions({"gmm", "module"})],
        "module_concentration": [Interval(numbers.Real, 1, None, closed="left")],
        "module_orthonormality": [Interval(numbers.Real, 0, None, closed="left")],
        "graph_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "reconstruction": [StrOptions({"auto", "exact", "sampled"})],
        "n_sampled_cells": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_facets": [Interval(numbers.Integral, 1, None, closed="left")],
        "facet_fade_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, n_clusters=3, *, latent_dim=8, hidden_dim=64, n_init=1, init="spectral",
                 pretrain_epochs=200, max_iter=300, learning_rate=0.01, tol=1e-4,
                 log_var_floor=-10.0, share_first_layer=True, cluster_variance="shared",
                 likelihood="auto", degree_correction=True, block_refinement=True,
                 clustering="gmm", module_concentration=2.0, module_orthonormality=0.01,
                 graph_weight=0.0, n_neighbors=15,
                 reconstruction="auto", n_sampled_cells=None, device="auto", random_state=None,
                 verbose=0, n_facets=1, facet_fade_epochs=50, n_jobs=None):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.n_init = n_init
        self.init = init
        self.pretrain_epochs = pretrain_epochs
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.tol = tol
        self.log_var_floor = log_var_floor
        self.share_first_layer = share_first_layer
        self.cluster_variance = cluster_variance
        self.likelihood = likelihood
        self.degree_correction = degree_correction
        self.block_refinement = block_refinement
        self.clustering = clustering
        self.module_concentration = module_concentration
        self.module_orthonormality = module_orthonormality
        self.graph_weight = graph_weight
        self.n_neighbors = n_neighbors
        self.reconstruction = reconstruction
        self.n_sampled_cells = n_sampled_cells
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_facets = n_facets
        self.facet_fade_epochs = facet_fade_epochs
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ fitting
    def _check_parameters(self):
        """Every facet must be faded in by the last epoch."""
        check_facet_schedule(self.n_facets, self.facet_fade_epochs, self.max_iter)

    def _training_config(self, csr, n_row_clusters, n_column_clusters):
        """The training loop's configuration from the estimator's parameters."""
        n_sampled = self._n_sampled_cells(csr)
        return TrainingConfig(
            n_row_clusters=n_row_clusters, n_column_clusters=n_column_clusters,
            latent_dim=self.latent_dim * self.n_facets, hidden_dim=self.hidden_dim,
            pretrain_epochs=self.pretrain_epochs, max_iter=self.max_iter,
            learning_rate=self.learning_rate, tol=self.tol, log_var_floor=self.log_var_floor,
            share_first_layer=self.share_first_layer,
            shared_variance=self.cluster_variance == "shared", var_floor=1e-6,
            degree_correction=self.degree_correction, n_sampled_cells=n_sampled,
            likelihood=self.likelihood_,
            facet_cluster_counts=self._facet_counts if self.n_facets > 1 else None,
            facet_fade_epochs=self.facet_fade_epochs)

    def _n_sampled_cells(self, csr):
        """Cells drawn for the all-cells sum over ``csr``, or None to compute it exactly."""
        n_cells = csr.shape[0] * csr.shape[1]
        sampled = self.reconstruction == "sampled" or (
            self.reconstruction == "auto" and n_cells > SAMPLED_CELLS_THRESHOLD)
        if not sampled:
            return None
        return self.n_sampled_cells or max(csr.nnz, 100_000)

    def _split_seeds(self, seeds):
        """The last seed is the auxiliary one; the restarts take the first ``n_init``."""
        return int(seeds[-1]), seeds[:self.n_init]

    def _restart_inits(self):
        """The ``init`` of each restart: 'alternate' takes 'spectral' and 'random' in turn."""
        if self.init == "alternate":
            return ["spectral" if k % 2 == 0 else "random" for k in range(self.n_init)]
        return [self.init] * self.n_init

    def _prepare(self, csr, n_clusters, row_graph, device, seed):
        """The training configuration (with its options) and the data on the device."""
        config = self._training_config(csr, *n_clusters)
        config.clustering_module, config.graph = option_configs(self, csr, row_graph, device,
                                                                seed)
        # Real values on a dense layout are centred rather than degree-normalised
        # (EncoderInput): their row and column sums say nothing about the clusters.
        data, encoder_input = prepare_training_data(
            csr, self.hidden_dim, device, seed,
            centre=make_likelihood(self.likelihood_).real_valued and layout_is_dense(csr))
        return _Prepared(data, encoder_input, config, device)

    def _progress_phases(self):
        """Epochs of pretraining and of the alternating phase."""
        return {"pretrain": self.pretrain_epochs, "train": self.max_iter}

    def _fit_restart(self, prepared, init, seed, progress):
        """One restart of the deep model (:func:`~skcocluster._train.dlbm.fit_once`)."""
        return fit_once(prepared.data, prepared.config, init, seed, prepared.device, progress)

    def _store_restart(self, fit, prepared):
        """Keep the fitted model on the CPU with what new rows and columns need."""
        data, model = prepared.data, fit.model
        row_state = model.row_encoder.fitted_state(data.adjacency_t, data.adjacency)
        column_state = model.column_encoder.fitted_state(data.adjacency, data.adjacency_t)
        with torch.no_grad():
            posteriors = model.encode(data.adjacency, data.adjacency_t)
        self.module_ = model.to("cpu")
        self._row_state = tuple(_to_cpu(t) for t in row_state)
        self._column_state = tuple(_to_cpu(t) for t in column_state)
        self._column_posterior = (posteriors[2].cpu(), posteriors[3].cpu())
        self._row_posterior = (posteriors[0].cpu(), posteriors[1].cpu())
        self._encoder_input = prepared.encoder_input
        self._refined_facets = None
        self.row_embedding_ = posteriors[0].cpu().double().numpy()
        self.column_embedding_ = posteriors[2].cpu().double().numpy()
        self.pretrain_history_ = np.asarray(fit.pretrain_history)
        self.alpha_ = float(model.decoder.alpha.detach())

    def _fitted_memberships(self, fit, prepared):
        """The deep model's memberships of the training rows and columns."""
        return fit.row_resp.cpu().double().numpy(), fit.column_resp.cpu().double().numpy()

    def _start_memberships(self, fit):
        """The restart's starting partition (k-means on the encoders' initial positions)."""
        if fit.start_row_resp is None:
            return None
        return (fit.start_row_resp.cpu().double().numpy(),
                fit.start_column_resp.cpu().double().numpy())

    def _refit_mixtures(self, row_resp, column_resp):
        """Closed-form mixture update of both latent spaces from the refined memberships."""
        for prior, resp, (mean, log_var) in (
                (self.module_.row_prior, row_resp, self._row_posterior),
                (self.module_.column_prior, column_resp, self._column_posterior)):
            prior.update(torch.as_tensor(resp, dtype=torch.float32), mean, log_var)
        self._store_mixtures()

    def _refine_facets(self, csr, own, seed):
        """Refine the rows' facets given each other; refit facet mixtures to them."""
        with torch.no_grad():
            rows = [r.double().numpy() for r in
                    self.module_.row_prior.facet_responsibilities(*self._row_posterior)]
            columns = [r.double().numpy() for r in
                       self.module_.column_prior.facet_responsibilities(
                           *self._column_posterior)]
        rows[0], columns[0] = own
        refined = refine_facet_memberships(csr, rows, [resp.shape[1] for resp in columns],
                                           self.likelihood_, seed)
        if refined is None:
            return own
        self.module_.row_prior.update([torch.as_tensor(r, dtype=torch.float32)
                                       for r in refined], *self._row_posterior)
        self._refined_facets = (refined, columns)
        self._store_mixtures()
        return refined[0], columns[0]

    def _facet_attributes(self):
        """Per-facet memberships, labels, agreement and KL to the prior of each side."""
        refined = self._refined_facets or (None, None)
        memberships, kl = {}, {}
        for side, posterior, facets in (("row", self._row_posterior, refined[0]),
                                        ("column", self._column_posterior, refined[1])):
            memberships[side], kl[side] = facet_results(
                getattr(self.module_, f"{side}_prior"), posterior,
                getattr(self, f"{side}_memberships_"), facets)
        return facet_attributes(memberships["row"], memberships["column"], kl["row"],
                                kl["column"])

    def _mixture_parameters(self, side):
        """Proportions, means and variances of one side's Gaussian mixture (facet 1's)."""
        prior = getattr(self.module_, f"{side}_prior")
        return (prior.log_proportions.exp().double().numpy(), prior.means.double().numpy(),
                prior.variances.double().numpy())

    def _reorder_column_clusters(self, order):
        """Permute the column mixture (and clustering module) to the paired order."""
        prior = self.module_.column_prior
        index = torch.as_tensor(order)
        with torch.no_grad():
            for buffer in (prior.log_proportions, prior.means, prior.variances):
                buffer.copy_(buffer[index])
        reorder_module_clusters(getattr(self.module_, "column_clustering", None), order)
        self._store_mixtures()

    # ------------------------------------------------------------------ new rows / columns
    def _encode(self, csr, side):
        """Posterior means and log-variances of new rows (side='row') or columns.

        A new node is normalised as the training matrix was (by its own degree and the
        training degrees of the other side, or centred: ``EncoderInput``), then passed
        through the fitted hidden features (``docs/model.rst``, "Encoders").
        """
        encoder = getattr(self.module_, f"{side}_encoder")
        hidden, hidden_var, centres = getattr(self, f"_{side}_state")
        means, log_vars = [], []
        # In batches of nodes, so that encoding many new nodes holds one batch's features
        # (and, for centred input, one dense batch of their cells).
        for start in range(0, max(csr.shape[0], 1), ENCODE_BATCH_NODES):
            batch = self._encoder_input.new_nodes(csr[start:start + ENCODE_BATCH_NODES], side)
            operator = to_torch_operator(batch, "cpu", isinstance(batch, np.ndarray)
                                         or layout_is_dense(batch))
            with torch.no_grad():
                propagated = propagate(operator, hidden)
                propagated_var = (propagated if hidden_var is hidden
                                  else propagate(operator, hidden_var))
                mean, log_var = encoder.heads(propagated, propagated_var, centres)
            means.append(mean)
            log_vars.append(log_var)
        return torch.cat(means), torch.cat(log_vars)

    def _own_model_memberships(self, csr, side):
        """Memberships of new rows (side='row') or columns under the encoders and the
        mixtures (or the clustering modules)."""
        mean, log_var = self._encode(csr, side)
        with torch.no_grad():
            return deep_memberships(self.module_, side, mean, log_var).double().numpy()

    def _row_positions(self, csr):
        """Posterior means of new rows, as float64."""
        return self._encode(csr, "row")[0].double().numpy()

    def _new_row_decoder(self, csr, row_mean):
        """The fitted decoder, with maximum-likelihood offsets for new rows (fold-in)."""
        decoder = self.module_.decoder
        if not decoder.degree_corrected:
            return decoder
        offsets = fold_in_row_offsets(decoder, self.module_.likelihood, row_mean,
                                      self._column_posterior[0], csr)
        return LatentPositionDecoder(float(decoder.alpha), offsets,
                                     decoder.column_offset.detach().clone())

    def _score_rows(self, csr):
        """ELBO per cell of new rows, with fold-in offsets and one fixed draw."""
        mean, log_var = self._encode(csr, "row")
        generator = torch.Generator().manual_seed(FINAL_BOUND_SEED)
        with torch.no_grad():
            row_positions = sample_positions(mean, log_var, generator)
            column_positions = sample_positions(*self._column_posterior, generator)
            n_sampled = self._n_sampled_cells(csr)
            recon = reconstruction_term(
                self._new_row_decoder(csr, mean), self.module_.likelihood, row_positions,
                column_positions, cell_data(csr, "cpu", layout_is_dense(csr)),
                n_sampled_cells=None if n_sampled is None else FINAL_SAMPLE_FACTOR * n_sampled,
                generator=generator)
            prior = self.module_.row_prior
            resp = deep_memberships(self.module_, "row", mean, log_var)
            bound = recon + prior.prior_terms(resp, mean, log_var)
        return float(bound) / (csr.shape[0] * csr.shape[1])

    def _expected_cells(self, rows, columns):
        """Expected cell values at the posterior means of training rows and columns."""
        rows_t = torch.as_tensor(rows)
        columns_t = torch.as_tensor(columns)
        decoder = self.module_.decoder
        with torch.no_grad():
            logits = decoder.block_logits(self._row_posterior[0][rows_t],
                                          self._column_posterior[0][columns_t],
                                          row_index=rows_t, column_index=columns_t)
            return self.module_.likelihood.expected(logits).double().numpy()


class _Prepared(NamedTuple):
    """What the restarts of a fit share."""

    data: object
    encoder_input: object
    config: TrainingConfig
    device: torch.device


def _to_cpu(value):
    """A tensor, or a tuple of tensors, moved to the CPU."""
    if isinstance(value, tuple):
        return tuple(v.cpu() for v in value)
    return value.cpu()
