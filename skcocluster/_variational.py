"""VariationalCoclustering: the estimator's parameters and the wiring of its torch model."""

import numbers
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import BaseCoclustering
from ._threads import limits_threads
from ._likelihoods import make_likelihood
from ._options.facets import facet_attributes
from ._options.wiring import graph_option
from ._refine.facets import refine_facet_memberships
from ._refine.stage import RefinementStage
from ._train.variational import (CHUNK, FINAL_OBJECTIVE_SEED, VariationalConfig, fit_once,
                                 gather, prepare_data, side_data)


class VariationalCoclustering(BaseCoclustering):
    """Scaled variational co-clustering: two Gaussian-mixture VAEs and a per-cell latent.

    A row is encoded from its row vector, a column from its column vector, each by a
    Gaussian-mixture VAE whose mixture components are the row (column) clusters; a third
    latent per cell, with its own mixture prior, models cell-level structure and noise; a
    mutual-information term ties the two partitions together (information-theoretic
    co-clustering). Every encoder reads a vector, so new rows *and new columns* are
    clustered directly, and training runs over mini-batches of rows, columns and sampled
    cells without ever holding the M x P matrix densely. A drop-in replacement for
    :class:`~skcocluster.DeepLatentBlockCoclustering` (same attributes and methods) and for
    :class:`sklearn.cluster.SpectralCoclustering` / :class:`sklearn.cluster.SpectralBiclustering`.

    The objective, in nats of the whole matrix (``docs/model.rst``, "The variational
    model")::

        J = row_weight    * sum_i IWAE_i   + contrast_weight * M * I_NCE(rows)
          + column_weight * sum_j IWAE_j   + contrast_weight * P * I_NCE(columns)
          + cell_weight   * sum_ij IWAE_ij + cell_contrast_weight * nnz(A) * I_NCE(cells)
          + mi_weight * sum(|A|) * I(p^)
          - graph_weight * (R_rows + R_cols)

    Each weight set to 0 removes its term. ``I(p^)`` is the mutual information of the
    co-cluster distribution ``Gamma^T |A| Delta / sum(|A|)``, computed on the whole sparse
    matrix at every step (the rows and columns outside the step's batch enter with their
    memberships of the start of the epoch).

    Of the options of the deep LBM, the neighbour-graph regulariser (``graph_weight``,
    ``n_neighbors``, ``fit(X, row_graph=G)``) and several facets (``n_facets``) are offered
    here too. The clustering module (``clustering='module'``) is not: what it brings to the
    deep LBM, mixture parameters learnt by gradient with the encoders instead of a
    closed-form EM step, this model already has, its mixture priors being trained inside
    the importance-weighted bounds.

    Parameters
    ----------
    n_clusters : int, tuple of (int, int) or 'auto', default=3
        ``k``: k row clusters and k column clusters, paired into k biclusters (column
        cluster k is the one row cluster k links to most). ``(L, Q)``: L row and Q column
        clusters forming an L x Q checkerboard of biclusters. ``'auto'``: L and Q of
        highest ICL of the latent block model, found by block-model EM fits on a greedy
        path from (1, 1), then the variational model is fitted once (the L x Q
        checkerboard), as for :class:`DeepLatentBlockCoclustering` (whose docstring
        gives its cost). ``n_row_clusters_``, ``n_column_clusters_`` and
        ``cluster_count_scores_`` report the choice. Refused with ``n_facets > 1``.
    n_cell_clusters : int or None, default=None
        Number K of components of the per-cell latent's mixture; None takes L x Q.
    latent_dim : int, default=8
        Dimension of the row and column latents.
    cell_latent_dim : int, default=4
        Dimension of the per-cell latent.
    hidden_dim : int, default=64
        Width of the hidden layers.
    n_samples : int, default=5
        Importance samples S of each importance-weighted bound.
    gradient : {'dreg', 'iwae'}, default='dreg'
        Encoder gradient of the importance-weighted bounds: the doubly reparameterised
        estimator (Tucker et al., 2018) or the plain gradient of the bound.
    batch_size : int, default=256
        Rows per mini-batch (the columns are split into as many batches per epoch).
    n_sampled_items : int, default=256
        Items (columns for a row, rows for a column) on which a side decoder's sum over all
        cells is evaluated: a uniform sample of this many, reweighted so the sum is
        unbiased; all of them (exact) when there are at most this many or when the batch is
        so dense that scoring all items costs less than its nonzeros plus the sample.
    cells_per_batch : int, default=1024
        At most this many nonzero cells of a row batch (a uniform subsample beyond), and as
        many uniformly drawn zero cells, enter the per-cell bound of a step; each group is
        reweighted to its count so the sum over all cells stays unbiased.
    n_init : int, default=1
        Number of restarts; the one with the highest final objective is kept.
    init : {'spectral', 'random'}, default='spectral'
        First-layer start of the encoders: half the first layer on the leading singular
        vectors of the normalised matrix (the rest random), or all random.
    pretrain_epochs : int, default=30
        Epochs of autoencoder pretraining of each side before the Gaussian-mixture start
        (with ``init='spectral'`` only the decoders learn, so the mixtures start on the
        spectral coordinates; with 'random' the encoders learn too), then as many epochs
        of warm-up of the per-cell model alone, the side latents held fixed. Every
        decoder starts at the data's marginals (the link of each item's mean).
    max_iter : int, default=100
        Maximum number of epochs of joint training: a ceiling, since joint training also
        stops once at most 0.3% of the labels moved over 5 epochs (one facet only).
    learning_rate : float, default=0.003
        Adam step size (pretraining and joint training).
    weight_decay : float, default=1e-6
        Adam's L2 weight decay.
    tol : float, default=1e-4
        Stop when the mean objective of the last 5 epochs improves on the 5 before by less
        than ``tol`` times its magnitude.
    temperature : float, default=0.5
        Temperature T of the contrastive critics ``exp(cos(g(a), z) / T)``.
    row_weight, column_weight, cell_weight : float, default=1.0
        Weights of the row, column and per-cell importance-weighted bounds.
    contrast_weight : float, default=1.0
        Weight lambda of the row and column InfoNCE terms.
    cell_contrast_weight : float, default=1.0
        Weight lambda_w of the cell-level InfoNCE term.
    mi_weight : float, default=1.0
        Weight beta of the mutual-information cross term.
    graph_weight : float, default=0.0
        Weight of the neighbour-graph regulariser (DGG, Yang et al. 2019), as in
        :class:`DeepLatentBlockCoclustering`: ``R = sum_ij w_ij [SKL(q(z_i), q(z_j)) +
        JS(gamma_i, gamma_j)]`` over a kNN graph of the rows, and the same over one of the
        columns, is subtracted from J, so that neighbours get close posteriors and similar
        memberships. The graphs are built once from a randomised truncated SVD of the
        normalised matrix (cosine distance, never ``A A^T``); ``fit(X, row_graph=G)``
        replaces the rows' graph by a given one. ``SKL`` is the symmetric KL between the
        diagonal Gaussian posteriors, with the log-variances floored at 0 inside it (it is
        then ``||mu_i - mu_j||^2`` for well-observed nodes); ``gamma`` the memberships.
        Each step estimates ``R`` from the edges leaving its row and column batches (their
        neighbours are encoded too), scaled to the whole matrix; the weight is raised from
        0 over the first 50 epochs. 0 turns it off. ``lower_bound_`` and
        ``objective_terms_['graph_divergence']`` then include it.
    n_neighbors : int, default=15
        Neighbours of each row (column) in the kNN graphs of ``graph_weight``.
    n_facets : int, default=1
        Number J of facets (MFCVAE, Falck et al. 2021): independent partitions of the rows
        (and of the columns), learnt together. Each side's latent has J blocks of
        ``latent_dim`` coordinates (``latent_dim`` is per facet), each block with its own
        Gaussian-mixture prior, and the decoders read the whole latent. ``n_clusters`` may
        then be a list with one entry per facet, as for
        :class:`DeepLatentBlockCoclustering`: an int ``k >= 2`` means ``k`` row clusters,
        ``k`` column clusters paired with them and one more column cluster for the columns
        the facet does not affect; a pair means exactly ``(L, Q)``. Facet 1's partition is
        the reported one (``row_labels_``, ``biclusters_``, ``predict``...) and the one the
        per-cell model's default K, the mutual-information term and the graph term use;
        see ``row_labels_facets_``. Each facet's block of the encoders' mean heads starts
        as a linear map onto its part of the pretrained latents, split by a factorial
        k-means for the rows and, for the columns, by their profiles over that facet's row
        clusters (so that column facet j pairs with row facet j); each facet's mixture is
        fitted there. ``block_refinement`` then refines each facet of the rows given the
        others (the plain block models are not used). 1 is the plain model.
    block_refinement : bool, default=True
        After training, refine the variational partition by EM of the plain and of the
        degree-corrected latent block models, and report the candidate (the variational
        partition or one of its refinements) that fills every cluster and best predicts a
        fixed sample of held-out cells, as :class:`DeepLatentBlockCoclustering` does.
        Unlike it, the variational partition is not kept where the block model is not
        adequate to the matrix: on the four document corpora it was measured below its
        refinements on two (user guide, "Choosing between the two estimators").
        ``refined_from_`` says which was kept, and ``predict_proba`` /
        ``predict_column_proba`` then use the model that produced it; the embeddings,
        ``transform``, ``elbo``, ``reconstruct`` and the cell memberships still come from
        the VAEs, whose mixture attributes (``row_means_`` ...) are not refitted. False
        reports the variational partition.
    likelihood : {'auto', 'bernoulli', 'poisson', 'gaussian'}, default='auto'
        Distribution of a cell given the decoder output: 'bernoulli' (values in [0, 1],
        logit), 'poisson' (non-negative values, log-rate) or 'gaussian' (real values, mean,
        with the matrix's variance as noise variance). 'auto' takes 'bernoulli' for binary
        X, 'poisson' for other non-negative X and 'gaussian' otherwise; stored in
        ``likelihood_``.
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to train. 'auto' takes a CUDA device when one is available.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the Monte Carlo draws, the batches and the mixture start;
        an int makes fits reproducible (on the same device and library versions).
    verbose : int, default=0
        0 prints nothing; 1 reports each restart (and shows a progress bar with the
        current objective when tqdm is installed); 2 also prints every 50 epochs.
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
        Soft row memberships ``p(l | z_i = mu(a_i))`` under the row mixture.
    column_memberships_ : ndarray of shape (n_columns, n_column_clusters)
        Soft column memberships.
    row_embedding_ : ndarray of shape (n_rows, n_facets * latent_dim)
        Posterior means of the row latents (facet ``j``'s coordinates are the ``j``-th
        block of ``latent_dim`` columns).
    column_embedding_ : ndarray of shape (n_columns, n_facets * latent_dim)
        Posterior means of the column latents.
    row_proportions_, column_proportions_ : ndarray of shape (n_row_clusters,), (n_column_clusters,)
        Mixture proportions of the row and column priors.
    row_means_, column_means_ : ndarray of shape (n_*_clusters, latent_dim)
        Mixture component means (of facet 1 when ``n_facets > 1``).
    row_variances_, column_variances_ : ndarray of shape (n_*_clusters, latent_dim)
        Mixture component variances (diagonal; of facet 1 when ``n_facets > 1``).
    block_probabilities_ : ndarray of shape (n_row_clusters, n_column_clusters)
        Mean cell value of each block under the soft memberships.
    likelihood_ : str
        The likelihood used ('auto' resolved).
    refined_from_ : str
        With ``block_refinement``, the candidate reported: 'variational',
        'variational + block EM' or 'variational + degree-corrected EM'.
    lower_bound_ : float
        Objective J per cell of the kept restart (one ordered pass, one fixed draw).
    objective_terms_ : dict of str to float
        The unweighted terms of J per cell at the end ('row_bound', 'column_bound',
        'cell_bound', 'row_contrast', 'column_contrast', 'cell_contrast',
        'mutual_information', and 'graph_divergence', ``R``, with ``graph_weight > 0``);
        a term whose weight is 0 is 0.
    elbo_history_ : ndarray of shape (`n_iter_`,)
        Objective J per cell at each epoch of joint training (mini-batch estimates).
    pretrain_history_ : ndarray of shape (pretrain_epochs,)
        Pretraining objective per cell (rows plus columns) at each epoch.
    n_iter_ : int
        Epochs of joint training of the kept restart.
    converged_ : bool
        Whether the kept restart stopped by ``tol`` before ``max_iter``.
    device_ : torch.device
        Device the model was trained on (the fitted model itself is kept on the CPU).
    row_labels_facets_ : ndarray of shape (n_facets, n_rows)
        Row cluster of each training row in each facet; row 0 is ``row_labels_``.
    column_labels_facets_ : ndarray of shape (n_facets, n_columns)
        Column cluster of each training column in each facet; row 0 is ``column_labels_``.
    row_memberships_facets_, column_memberships_facets_ : list of ndarray
        Soft memberships of each facet, of shape (n, n_clusters of the facet); the first
        is ``row_memberships_`` (``column_memberships_``).
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
    skcocluster.DeepLatentBlockCoclustering : Deep latent block model co-clustering.
    sklearn.cluster.SpectralCoclustering : Spectral co-clustering (Dhillon, 2001).

    Examples
    --------
    >>> from skcocluster import VariationalCoclustering
    >>> from skcocluster.datasets import make_lbm
    >>> from skcocluster.metrics import coclustering_adjusted_rand_score
    >>> X, rows, cols = make_lbm(300, 200, 3, block_params=[[.6, .1, .1], [.1, .6, .1],
    ...                          [.1, .1, .6]], random_state=0)
    >>> model = VariationalCoclustering(n_clusters=3, random_state=0).fit(X)
    >>> round(coclustering_adjusted_rand_score(rows, cols, model.row_labels_,
    ...                                        model.column_labels_), 2)
    1.0
    """

    # The variational partition is not kept where the block model is not adequate to the
    # matrix, as the deep LBM's is: on text it is below its refinements (measured:
    # benchmarks/README.md).
    _refinement_stage = RefinementStage(own_name="variational", keep_own_if_inadequate=False)

    _parameter_constraints = {
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left"), tuple, list,
                       StrOptions({"auto"})],
        "n_cell_clusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "cell_latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "gradient": [StrOptions({"dreg", "iwae"})],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_sampled_items": [Interval(numbers.Integral, 1, None, closed="left")],
        "cells_per_batch": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "init": [StrOptions({"spectral", "random"})],
        "pretrain_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "row_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "column_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "cell_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "contrast_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "cell_contrast_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "mi_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "graph_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_facets": [Interval(numbers.Integral, 1, None, closed="left")],
        "block_refinement": ["boolean"],
        "likelihood": [StrOptions({"auto", "bernoulli", "poisson", "gaussian"})],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, n_clusters=3, *, n_cell_clusters=None, latent_dim=8, cell_latent_dim=4,
                 hidden_dim=64, n_samples=5, gradient="dreg", batch_size=256,
                 n_sampled_items=256, cells_per_batch=1024, n_init=1, init="spectral",
                 pretrain_epochs=30, max_iter=100, learning_rate=0.003, weight_decay=1e-6,
                 tol=1e-4, temperature=0.5, row_weight=1.0, column_weight=1.0, cell_weight=1.0,
                 contrast_weight=1.0, cell_contrast_weight=1.0, mi_weight=1.0,
                 graph_weight=0.0, n_neighbors=15, n_facets=1, block_refinement=True,
                 likelihood="auto", device="auto", random_state=None, verbose=0,
                 n_jobs=None):
        self.n_clusters = n_clusters
        self.n_cell_clusters = n_cell_clusters
        self.latent_dim = latent_dim
        self.cell_latent_dim = cell_latent_dim
        self.hidden_dim = hidden_dim
        self.n_samples = n_samples
        self.gradient = gradient
        self.batch_size = batch_size
        self.n_sampled_items = n_sampled_items
        self.cells_per_batch = cells_per_batch
        self.n_init = n_init
        self.init = init
        self.pretrain_epochs = pretrain_epochs
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.tol = tol
        self.temperature = temperature
        self.row_weight = row_weight
        self.column_weight = column_weight
        self.cell_weight = cell_weight
        self.contrast_weight = contrast_weight
        self.cell_contrast_weight = cell_contrast_weight
        self.mi_weight = mi_weight
        self.graph_weight = graph_weight
        self.n_neighbors = n_neighbors
        self.n_facets = n_facets
        self.block_refinement = block_refinement
        self.likelihood = likelihood
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ fitting
    def _config(self, n_row_clusters, n_column_clusters):
        """The training loop's configuration from the estimator's parameters."""
        return VariationalConfig(
            n_row_clusters=n_row_clusters, n_column_clusters=n_column_clusters,
            n_cell_clusters=self.n_cell_clusters or n_row_clusters * n_column_clusters,
            latent_dim=self.latent_dim, cell_latent_dim=self.cell_latent_dim,
            hidden_dim=self.hidden_dim, n_samples=self.n_samples, gradient=self.gradient,
            batch_size=self.batch_size, n_sampled_items=self.n_sampled_items,
            cells_per_batch=self.cells_per_batch, pretrain_epochs=self.pretrain_epochs,
            max_iter=self.max_iter, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, tol=self.tol, temperature=self.temperature,
            init=self.init, row_weight=self.row_weight, column_weight=self.column_weight,
            cell_weight=self.cell_weight, contrast_weight=self.contrast_weight,
            cell_contrast_weight=self.cell_contrast_weight, mi_weight=self.mi_weight,
            likelihood=self.likelihood_,
            facet_counts=self._facet_counts if self.n_facets > 1 else None)

    def _split_seeds(self, seeds):
        """The first seed is the auxiliary one; the restarts take the others."""
        return int(seeds[0]), seeds[1:]

    def _prepare(self, csr, n_clusters, row_graph, device, seed):
        """The training configuration (with its graph term) and the data on the device."""
        config = self._config(*n_clusters)
        config.graph = graph_option(self, csr, row_graph, device, seed)
        return _Prepared(prepare_data(csr, config, device, seed), config, device)

    def _progress_phases(self):
        """Epochs of the three pretraining phases and of joint training."""
        return {"pretrain rows": self.pretrain_epochs, "pretrain columns": self.pretrain_epochs,
                "pretrain cells": self.pretrain_epochs, "train": self.max_iter}

    def _fit_restart(self, prepared, init, seed, progress):
        """One restart (:func:`~skcocluster._train.variational.fit_once`; ``init`` is
        read from the configuration)."""
        return fit_once(prepared.data, prepared.config, int(seed), prepared.device, progress)

    def _store_restart(self, fit, prepared):
        """Keep the fitted model on the CPU, with its objective's terms and history."""
        self.module_ = fit.model.to("cpu").eval()
        self._noise_var = prepared.data.noise_var
        self.objective_terms_ = {name: float(value) for name, value in fit.terms.items()}
        self.pretrain_history_ = (np.sum(fit.pretrain_history, axis=0)
                                  if self.pretrain_epochs else np.zeros(0))
        self._facets = {}

    def _fitted_memberships(self, fit, prepared):
        """The VAEs' memberships of the training rows and columns (also storing their
        embeddings and every facet's memberships)."""
        return (self._memberships_of(prepared.data.rows, "row"),
                self._memberships_of(prepared.data.columns, "column"))

    def _memberships_of(self, data_side, side):
        """Memberships of the training rows (columns), storing their embedding and every
        facet's memberships (``_facets``) too."""
        cpu = _side_on_cpu(data_side)
        mean, resp = self._encode_side(cpu, side)
        setattr(self, f"{side}_embedding_", mean)
        prior = self.module_.side(side).prior
        facets = [resp]
        if hasattr(prior, "facet_responsibilities"):
            with torch.no_grad():
                facets = [r.double().numpy() for r in prior.facet_responsibilities(
                    torch.as_tensor(mean, dtype=torch.float32))]
        self._facets[side] = facets
        return resp

    def _refine_facets(self, csr, own, seed):
        """Refine the rows' facets given each other (the mixtures are not refitted)."""
        refined = refine_facet_memberships(csr, self._facets["row"],
                                           [q for _, q in self._facet_counts],
                                           self.likelihood_, seed)
        if refined is None:
            return own
        self._facets["row"] = refined
        return refined[0], own[1]

    def _facet_attributes(self):
        """Per-facet memberships, labels and agreement of each side."""
        return facet_attributes([self.row_memberships_] + self._facets["row"][1:],
                                [self.column_memberships_] + self._facets["column"][1:])

    def _mixture_parameters(self, side):
        """Proportions, means and variances of one side's mixture prior (facet 1's)."""
        prior = self.module_.side(side).prior
        with torch.no_grad():
            return (torch.softmax(prior.logits, 0).double().numpy(),
                    prior.means.double().numpy().copy(),
                    prior.log_vars.exp().double().numpy().copy())

    def _reorder_column_clusters(self, order):
        """Permute the column prior's components to the paired order."""
        self.module_.columns.prior.reorder(order)
        self._store_mixtures()

    # ------------------------------------------------------------------ new rows / columns
    def _encode_side(self, data_side, side):
        """Posterior means (n, D) and memberships (n, n_clusters) as float64 arrays."""
        vae = self.module_.side(side)
        means, resps = [], []
        with torch.no_grad():
            for start in range(0, data_side.n_vectors, CHUNK):
                ids = torch.arange(start, min(start + CHUNK, data_side.n_vectors))
                mean, _ = vae.encoder(gather(data_side, ids))
                means.append(mean)
                resps.append(vae.prior.responsibilities(mean))
        mean = torch.cat(means).double().numpy()
        resp = torch.cat(resps).double().numpy()
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(resp))):
            raise FloatingPointError("the fitted encoders produced non-finite values")
        return mean, resp

    def _own_model_memberships(self, csr, side):
        """Memberships of new rows (side='row') or columns under the side's VAE."""
        return self._encode_side(side_data(csr, "cpu"), side)[1]

    def _row_positions(self, csr):
        """Posterior means of new rows."""
        return self._encode_side(side_data(csr, "cpu"), "row")[0]

    def _score_rows(self, csr):
        """Row-side importance-weighted bound per cell of the rows of ``csr``."""
        data_side = side_data(csr, "cpu")
        likelihood = make_likelihood(self.likelihood_, self._noise_var)
        generator = torch.Generator().manual_seed(FINAL_OBJECTIVE_SEED)
        vae = self.module_.rows
        items = torch.arange(data_side.n_items)
        total = 0.0
        with torch.no_grad():
            for start in range(0, data_side.n_vectors, CHUNK):
                ids = torch.arange(start, min(start + CHUNK, data_side.n_vectors))
                bound, _ = vae.bound(gather(data_side, ids), likelihood, items,
                                     self.n_samples, self.gradient, generator)
                total += float(bound.sum())
        return total / (csr.shape[0] * csr.shape[1])

    def _expected_cells(self, rows, columns):
        """Expected values under the row-side decoder at the rows' posterior means."""
        likelihood = make_likelihood(self.likelihood_, self._noise_var)
        decoder = self.module_.rows.decoder
        items = torch.as_tensor(columns, dtype=torch.int64)
        with torch.no_grad():
            hidden = decoder.hidden(torch.as_tensor(self.row_embedding_[rows],
                                                    dtype=torch.float32))
            return likelihood.expected(decoder.logits_over(hidden, items)).double().numpy()

    # ------------------------------------------------------------------ cells
    @limits_threads
    def predict_cell_proba(self, rows, columns):
        """Memberships of given cells in the K components of the per-cell latent's mixture.

        Cell ``(rows[n], columns[n])`` is encoded from the posterior means of its row and
        column: ``p(k | w = E[w | z_i, z_j])``. Only the cells asked for are computed (never
        all M x P).

        Parameters
        ----------
        rows, columns : array-like of int of shape (n_cells,)
            Training row and column indices of the cells.

        Returns
        -------
        memberships : ndarray of shape (n_cells, n_cell_clusters)
        """
        check_is_fitted(self)
        rows = _cell_indices(rows, self.n_rows_in_, "rows")
        columns = _cell_indices(columns, self.n_features_in_, "columns")
        if rows.shape != columns.shape:
            raise ValueError(f"rows and columns must have the same length; got {rows.size} "
                             f"and {columns.size}.")
        z_rows = torch.as_tensor(self.row_embedding_[rows], dtype=torch.float32)
        z_cols = torch.as_tensor(self.column_embedding_[columns], dtype=torch.float32)
        with torch.no_grad():
            return self.module_.cells.memberships(z_rows, z_cols).double().numpy()

    def predict_cells(self, rows, columns):
        """Cell-cluster labels of given cells (see :meth:`predict_cell_proba`).

        Parameters
        ----------
        rows, columns : array-like of int of shape (n_cells,)
            Training row and column indices of the cells.

        Returns
        -------
        labels : ndarray of shape (n_cells,)
        """
        return self.predict_cell_proba(rows, columns).argmax(1)


class _Prepared(NamedTuple):
    """What the restarts of a fit share."""

    data: object
    config: VariationalConfig
    device: torch.device


def _side_on_cpu(data_side):
    """A :class:`SideData` moved to the CPU (for the final memberships)."""
    return type(data_side)(**{name: (value.cpu() if torch.is_tensor(value) else value)
                              for name, value in vars(data_side).items()})


def _cell_indices(index, size, name):
    """Validated training indices of cells (negative ones counted from the end)."""
    index = np.asarray(index)
    if index.ndim != 1 or not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
        raise ValueError(f"{name} must be a 1-D array of integer indices.")
    if index.size and (index.min() < -size or index.max() >= size):
        raise ValueError(f"{name} has indices outside [0, {size}).")
    return np.arange(size)[index.astype(np.int64)]
