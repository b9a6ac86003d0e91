"""The scikit-learn surface shared by the co-clustering estimators, and their fit template.

:meth:`BaseCoclustering.fit` is the one template of both estimators (in the spirit of
scikit-learn's ``mixture/_base.py``): validation, restarts over the seeds, best of the
restarts by their bound, the ``ConvergenceWarning``, the refinement stage and the stored
result. An estimator supplies its parameters and the wiring of its model through a few
small hooks (``_prepare``, ``_fit_restart``, ``_store_restart``, ``_fitted_memberships``,
``_refine_facets``, ...); the plumbing of ``predict``, ``predict_proba``, ``transform``,
``score`` and ``reconstruct`` is here too.
"""

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, BiclusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._data.device import resolve_device
from ._data.validation import as_csr, check_values_for_likelihood
from ._likelihoods import resolve_likelihood
from ._options.facets import check_facet_cluster_counts, cluster_counts
from ._refine.partition import FittedPartition
from ._refine.signal import finds_nothing
from ._select.cluster_count import choose_cluster_counts
from ._select.row_evidence import RowEvidence
from ._threads import limits_threads
from ._train.progress import Progress, StageClock

# Largest reconstruction returned in one piece; beyond it, ask for a subset.
MAX_RECONSTRUCT_CELLS = 5 * 10 ** 7


# sklearn estimator checks that cannot apply to these estimators, with the reason; the
# compatibility tests pass this to ``parametrize_with_checks(expected_failed_checks=...)``.
EXPECTED_FAILED_CHECKS = {
    "check_estimator_sparse_array": (
        "assumes that predict_proba belongs to a classifier (it reads classifier tags and "
        "expects 2 or 4 classes); ours gives cluster memberships. Sparse input of every "
        "format is tested in tests/test_dlbm.py."),
    "check_estimator_sparse_matrix": (
        "assumes that predict_proba belongs to a classifier (see check_estimator_sparse_array)."),
}


class BaseCoclustering(BiclusterMixin, TransformerMixin, BaseEstimator):
    """Fit template and prediction plumbing of the co-clustering estimators (not for direct use).

    A subclass implements the model hooks (``_prepare``, ``_fit_restart``...) and sets
    ``_refinement_stage``, a :class:`~skcocluster._refine.stage.RefinementStage` saying
    how its own partition competes with its block-model refinements.
    """

    def __sklearn_tags__(self):
        """Sparse input accepted, NaN refused, float32 kept by ``transform``."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # ------------------------------------------------------------------ validation
    def _validated_matrix(self, X, *, reset, return_dtype=False):
        """Validate ``X`` and return it as a float64 CSR matrix with checked values.

        With ``reset=True`` (fit) this also resolves ``likelihood='auto'`` into the fitted
        attribute ``likelihood_``.
        """
        X = validate_data(self, X, accept_sparse=True, dtype=[np.float64, np.float32],
                          reset=reset, ensure_min_samples=1, ensure_min_features=1)
        csr = as_csr(X)
        if reset:
            if not np.all(np.isfinite(csr.data)):
                raise ValueError("Input X contains NaN or infinity.")
            self.likelihood_ = resolve_likelihood(csr, self.likelihood)
        check_values_for_likelihood(csr, self.likelihood_, allow_empty=not reset,
                                    estimator_name=type(self).__name__)
        return (csr, X.dtype) if return_dtype else csr

    def _validated_columns(self, X):
        """Validate new columns given as a matrix over the training rows; return its transpose.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_training_rows, n_new_columns)

        Returns
        -------
        csr : csr_matrix of shape (n_new_columns, n_training_rows)
        """
        check_is_fitted(self)
        # Not validate_data: these columns are new, so their count differs from the fit's.
        X = check_array(X, accept_sparse=True, dtype=[np.float64, np.float32],
                        input_name="X")
        if X.shape[0] != self.n_rows_in_:
            raise ValueError(
                f"X has {X.shape[0]} rows, but {type(self).__name__} was fitted on "
                f"{self.n_rows_in_} rows: new columns must be given over the training rows.")
        csr = as_csr(X)
        check_values_for_likelihood(csr, self.likelihood_, allow_empty=True,
                                    estimator_name=type(self).__name__)
        return as_csr(csr.T)

    def _seeds(self, n_seeds):
        """Independent integer seeds drawn from ``random_state``."""
        return check_random_state(self.random_state).randint(np.iinfo(np.int32).max,
                                                             size=n_seeds)

    # ------------------------------------------------------------------ fitting
    @limits_threads
    def fit(self, X, y=None, row_graph=None):
        """Co-cluster the rows and columns of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_rows, n_columns)
            The data matrix: dense, any scipy.sparse format, or a pandas DataFrame.
            Empty rows and columns are allowed.
        y : Ignored
            Not used, present for API consistency.
        row_graph : {array-like, sparse matrix} of shape (n_rows, n_rows), default=None
            Known similarities between the rows (e.g. citations between documents), used
            instead of the rows' nearest-neighbour graph by the graph regulariser; it needs
            ``graph_weight > 0``. Non-negative weights; each row is normalised to sum 1
            and self-loops are dropped.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        self._check_parameters()
        paired = self._check_n_clusters()
        csr = self._validated_matrix(X, reset=True)
        self.n_rows_in_ = csr.shape[0]
        device = resolve_device(self.device)
        auxiliary_seed, restart_seeds = self._split_seeds(self._seeds(self.n_init + 1))
        clock = StageClock()
        n_row_clusters, n_column_clusters = self._cluster_counts(csr, auxiliary_seed, clock)
        check_facet_cluster_counts(csr.shape, self._facet_counts)
        with clock.stage("prepare"):
            prepared = self._prepare(csr, (n_row_clusters, n_column_clusters), row_graph,
                                     device, auxiliary_seed)
        best = self._best_restart(prepared, restart_seeds, clock)
        if not best.converged:
            warnings.warn(
                f"The best of {self.n_init} restart(s) did not converge in max_iter="
                f"{self.max_iter} epochs; increase max_iter or tol.", ConvergenceWarning,
                stacklevel=3)  # the user's call, above fit and its thread limit
        with clock.stage("store"):
            self._store_fit(best, prepared, device)
            own = self._fitted_memberships(best, prepared)
        with clock.stage("refine"):
            partition = self._refined_partition(csr, best, own, auxiliary_seed)
        with clock.stage("store"):
            self._store_partition(csr, partition, paired)
            for name, value in self._facet_attributes().items():
                setattr(self, name, value)
        with clock.stage("refine"):
            _warn_if_no_signal(csr, self.likelihood_, self.row_labels_, self.column_labels_)
        # Where the time went (benchmarks/speed.py reads it).
        self._stage_seconds = clock.seconds
        _warn_on_empty_clusters(self.row_labels_, n_row_clusters, "row")
        _warn_on_empty_clusters(self.column_labels_, n_column_clusters, "column")
        return self

    def _check_parameters(self):
        """Checks of the parameters beyond their constraints (default: none)."""

    def _check_n_clusters(self):
        """Whether the reported partition's biclusters pair row and column clusters.

        Also sets ``_facet_counts``, the cluster counts of every facet (None for
        ``n_clusters='auto'`` until :meth:`_cluster_counts` chooses them).
        """
        self._facet_counts, paired = cluster_counts(self.n_clusters, self.n_facets)
        return paired

    def _cluster_counts(self, csr, seed, clock):
        """``(n_row_clusters, n_column_clusters)`` of the reported partition.

        With ``n_clusters='auto'`` they are chosen here, by the ICL of the block model
        (:mod:`~skcocluster._select.cluster_count`), and the criterion of every pair
        scored is kept in ``cluster_count_scores_``.
        """
        if self._facet_counts is None:
            with clock.stage("cluster_count"):
                choice = choose_cluster_counts(csr, self.likelihood_, seed)
            self._facet_counts = [(choice.n_row_clusters, choice.n_column_clusters)]
            self.cluster_count_scores_ = choice.scores
        self.n_row_clusters_, self.n_column_clusters_ = self._facet_counts[0]
        return self._facet_counts[0]

    def _split_seeds(self, seeds):
        """The auxiliary seed and the restarts' seeds among ``n_init + 1`` drawn seeds.

        The auxiliary seed seeds what all restarts share (data preparation, neighbour
        graphs, facet refinement). Each estimator keeps its own convention, so that a
        given ``random_state`` gives the same fits as before.

        Parameters
        ----------
        seeds : ndarray of shape (n_init + 1,)

        Returns
        -------
        auxiliary_seed : int
        restart_seeds : ndarray of shape (n_init,)
        """
        raise NotImplementedError

    def _restart_inits(self):
        """The ``init`` of each restart."""
        return [self.init] * self.n_init

    def _best_restart(self, prepared, restart_seeds, clock):
        """Fit every restart on the prepared data; the fit of highest bound.

        Parameters
        ----------
        prepared : object
            What ``_prepare`` returned.
        restart_seeds : ndarray of shape (n_init,)
        clock : StageClock
            Gets the stages of every restart.

        Returns
        -------
        best : object
            The kept restart's fit (``lower_bound``, ``converged``, ``history``...); of
            equal bounds, the first.
        """
        progress = Progress(self.verbose, self.n_init, phase_totals=self._progress_phases())
        best = None
        for restart, (init, seed) in enumerate(zip(self._restart_inits(), restart_seeds)):
            progress.start_restart(restart, init)
            fit = self._fit_restart(prepared, init, seed, progress)
            clock.add(fit.stage_seconds)
            progress.end_restart(fit)
            if best is None or fit.lower_bound > best.lower_bound:
                best = fit
        return best

    def _store_fit(self, fit, prepared, device):
        """Store the kept restart: what both estimators report, then the model's own."""
        self.lower_bound_ = float(fit.lower_bound)
        self.elbo_history_ = np.asarray(fit.history)
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        self.device_ = device
        self._store_restart(fit, prepared)
        self._store_mixtures()

    def _refined_partition(self, csr, fit, own, auxiliary_seed):
        """The reported partition: the own one, or the refinement stage's choice.

        With several facets, the estimator's ``_refine_facets`` replaces the stage: the
        plain block models explain the matrix with one row partition and would pull facet 1
        towards a mix of the facets (``docs/model.rst``, "Facets").

        Returns
        -------
        partition : FittedPartition
        """
        if not self.block_refinement:
            return FittedPartition(*own)
        if self.n_facets > 1:
            return FittedPartition(*self._refine_facets(csr, own, auxiliary_seed))
        partition = self._refinement_stage.fit(csr, own, self._start_memberships(fit),
                                               self.likelihood_)
        self._refit_mixtures(partition.row_resp, partition.column_resp)
        return partition

    def _start_memberships(self, fit):
        """A starting partition the refinement stage refines too (default: none)."""
        return None

    def _refit_mixtures(self, row_resp, column_resp):
        """Follow the refined memberships in the own model (default: keep it as fitted)."""

    def _store_partition(self, csr, partition, paired):
        """Store memberships, labels, block probabilities and bicluster indicators."""
        block = block_densities(csr, partition.row_resp, partition.column_resp)
        order = None
        if paired:
            order = pairing_order(block)
            block = block[:, order]
            self._reorder_column_clusters(order)
        self._partition = partition = partition.reported(block, order)
        if partition.refined_from is not None:
            self.refined_from_ = partition.refined_from
        row_resp, column_resp = partition.row_resp, partition.column_resp
        self.row_memberships_ = row_resp
        self.column_memberships_ = column_resp
        self.row_labels_ = row_resp.argmax(1)
        self.column_labels_ = column_resp.argmax(1)
        self.block_probabilities_ = block
        self._row_evidence = RowEvidence.fit(csr, row_resp, column_resp, self.likelihood_)
        n_row_clusters, n_column_clusters = row_resp.shape[1], column_resp.shape[1]
        if paired:
            row_ids = col_ids = range(n_row_clusters)
        else:
            row_ids = [l for l in range(n_row_clusters) for _ in range(n_column_clusters)]
            col_ids = [q for _ in range(n_row_clusters) for q in range(n_column_clusters)]
        self.rows_ = np.vstack([self.row_labels_ == l for l in row_ids])
        self.columns_ = np.vstack([self.column_labels_ == q for q in col_ids])

    def _store_mixtures(self):
        """Set the mixture attributes (``row_proportions_``, ``row_means_``...)."""
        for side in ("row", "column"):
            proportions, means, variances = self._mixture_parameters(side)
            setattr(self, f"{side}_proportions_", proportions)
            setattr(self, f"{side}_means_", means)
            setattr(self, f"{side}_variances_", variances)

    # ------------------------------------------------------------------ model hooks
    def _prepare(self, csr, n_clusters, row_graph, device, seed):
        """Everything the restarts share: the training configuration and the data.

        Parameters
        ----------
        csr : csr_matrix of shape (M, P)
            The validated training matrix.
        n_clusters : tuple of (int, int)
            Row and column clusters of the reported partition (facet 1's).
        row_graph : {array-like, sparse matrix} or None
            The user's row graph, as given to ``fit``.
        device : torch.device
        seed : int
            The auxiliary seed (:meth:`_split_seeds`).

        Returns
        -------
        prepared : object
            Passed back unchanged to :meth:`_fit_restart`, :meth:`_store_restart` and
            :meth:`_fitted_memberships`.
        """
        raise NotImplementedError

    def _progress_phases(self):
        """Epochs of each training phase, by name, for the progress report."""
        raise NotImplementedError

    def _fit_restart(self, prepared, init, seed, progress):
        """One restart; its fit has ``lower_bound``, ``converged``, ``history`` and
        ``n_iter``."""
        raise NotImplementedError

    def _store_restart(self, fit, prepared):
        """Keep the kept restart's model (on the CPU) and its own fitted attributes."""
        raise NotImplementedError

    def _fitted_memberships(self, fit, prepared):
        """The own model's row (M, L) and column (P, Q) memberships of the training matrix."""
        raise NotImplementedError

    def _refine_facets(self, csr, own, seed):
        """``block_refinement`` with several facets: the reported row and column memberships.

        Returns
        -------
        row_resp, column_resp : ndarray
        """
        raise NotImplementedError

    def _facet_attributes(self):
        """The per-facet fitted attributes by name (``_options/facets.facet_attributes``)."""
        raise NotImplementedError

    def _mixture_parameters(self, side):
        """Proportions, means and variances of one side's mixture, as float64 arrays."""
        raise NotImplementedError

    def _reorder_column_clusters(self, order):
        """Follow a new order of the column clusters (pairing) in the own model."""
        raise NotImplementedError

    def _own_model_memberships(self, csr, side):
        """Memberships of new rows (side='row') or columns under the own model."""
        raise NotImplementedError

    def _row_positions(self, csr):
        """Latent positions (posterior means) of new rows, shape (n, latent dimension)."""
        raise NotImplementedError

    def _score_rows(self, csr):
        """The own model's bound per cell of new rows (:meth:`elbo`)."""
        raise NotImplementedError

    def _expected_cells(self, rows, columns):
        """Fitted expected values of the training cells ``rows x columns``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ biclusters
    def get_indices(self, i):
        """Row and column indices of the ``i``-th bicluster.

        Parameters
        ----------
        i : int
            Index of the bicluster, in ``[-n_biclusters, n_biclusters)``.

        Returns
        -------
        row_ind, col_ind : ndarray of int
        """
        check_is_fitted(self)
        n_biclusters = self.rows_.shape[0]
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool) or not (
                -n_biclusters <= i < n_biclusters):
            raise ValueError(
                f"Bicluster index {i!r} is outside the {n_biclusters} biclusters: give an "
                f"int in [0, {n_biclusters}) (or a negative one counting from the end).")
        return np.nonzero(self.rows_[i])[0], np.nonzero(self.columns_[i])[0]

    def get_submatrix(self, i, data):
        """The submatrix of ``data`` of the ``i``-th bicluster.

        Parameters
        ----------
        i : int
            Index of the bicluster, in ``[-n_biclusters, n_biclusters)``; any other
            raises a ValueError that says so.
        data : {array-like, sparse matrix} of shape (n_rows, n_columns)

        Returns
        -------
        submatrix : {ndarray, sparse matrix} of shape (n_bicluster_rows, n_bicluster_cols)
        """
        return super().get_submatrix(i, data)

    # ------------------------------------------------------------------ prediction
    @limits_threads
    def predict_proba(self, X):
        """Row-cluster memberships of the rows of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new_rows, n_columns)
            New rows over the training columns. On the training matrix the result equals
            ``row_memberships_``.

        Returns
        -------
        memberships : ndarray of shape (n_new_rows, n_row_clusters)
        """
        check_is_fitted(self)
        return self._new_memberships(self._validated_matrix(X, reset=False), "row")

    def _new_memberships(self, csr, side):
        """Memberships of new rows (side='row') or columns under the model that produced
        that side of the reported partition: its block model, or the estimator's own."""
        memberships = self._partition.new_memberships(csr, side)
        if memberships is None:
            memberships = self._own_model_memberships(csr, side)
        return memberships

    def predict(self, X):
        """Row-cluster labels of the rows of ``X`` (see :meth:`predict_proba`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new_rows, n_columns)

        Returns
        -------
        labels : ndarray of shape (n_new_rows,)
        """
        return self.predict_proba(X).argmax(1)

    @limits_threads
    def predict_column_proba(self, X):
        """Column-cluster memberships of the columns of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_rows, n_new_columns)
            New columns over the training rows (the same rows, in the same order, as the
            matrix given to ``fit``). On the training matrix the result equals
            ``column_memberships_``.

        Returns
        -------
        memberships : ndarray of shape (n_new_columns, n_column_clusters)
        """
        return self._new_memberships(self._validated_columns(X), "column")

    def predict_columns(self, X):
        """Column-cluster labels of the columns of ``X`` (see :meth:`predict_column_proba`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_rows, n_new_columns)

        Returns
        -------
        labels : ndarray of shape (n_new_columns,)
        """
        return self.predict_column_proba(X).argmax(1)

    @limits_threads
    def transform(self, X):
        """Latent positions (posterior means) of the rows of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new_rows, n_columns)

        Returns
        -------
        positions : ndarray of shape (n_new_rows, latent_dim)
            float32 for float32 input, float64 otherwise.
        """
        check_is_fitted(self)
        csr, dtype = self._validated_matrix(X, reset=False, return_dtype=True)
        return self._row_positions(csr).astype(dtype, copy=False)

    @limits_threads
    def score(self, X, y=None):
        """Log-likelihood per cell of the rows of ``X`` under the fitted latent block model.

        Each row's cluster is integrated out: ``log sum_l pi_l p(x_i | l)``, with the
        proportions and block parameters of the reported partition estimated on the
        training matrix and the columns in their reported clusters (the plain block model;
        for Poisson cells the degree-corrected one). With too few clusters no block profile
        fits the rows of a merged cluster and the score drops, so ``GridSearchCV`` over
        ``n_clusters`` on held-out rows can choose the numbers of clusters (user guide,
        "Choosing the number of clusters"). Higher is better. The deep model's own bound
        is :meth:`elbo`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new_rows, n_columns)
            New rows over the training columns.
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        return self._row_evidence.score(self._validated_matrix(X, reset=False))

    @limits_threads
    def elbo(self, X):
        """Evidence lower bound per cell of the rows of ``X`` under the fitted deep model.

        Measures the latent-position model, not the partition: it barely changes with the
        number of clusters (use :meth:`score` to choose them).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new_rows, n_columns)
            New rows over the training columns.

        Returns
        -------
        elbo : float
        """
        check_is_fitted(self)
        return float(self._score_rows(self._validated_matrix(X, reset=False)))

    @limits_threads
    def reconstruct(self, rows=None, columns=None):
        """Fitted expected values of the cells ``rows x columns``.

        Parameters
        ----------
        rows, columns : array-like of int or bool mask, optional
            Training rows (columns) to reconstruct; all by default. Ask for a subset of a
            big matrix: a dense result of more than 5e7 cells is refused.

        Returns
        -------
        expected : ndarray of shape (n_selected_rows, n_selected_columns)
            The expected cell values under the fitted likelihood at the posterior means
            of the positions: probabilities (Bernoulli), rates (Poisson) or means (Gaussian).
        """
        check_is_fitted(self)
        rows = _selection(rows, self.n_rows_in_, "rows")
        columns = _selection(columns, self.n_features_in_, "columns")
        if rows.size * columns.size > MAX_RECONSTRUCT_CELLS:
            raise ValueError(
                f"reconstruct would build {rows.size} x {columns.size} cells; pass a subset "
                "with rows=... and columns=...")
        return self._expected_cells(rows, columns)


def _warn_on_empty_clusters(labels, n_clusters, side):
    """ConvergenceWarning (at the user's call to ``fit``) when a cluster is empty."""
    n_found = np.unique(labels).size
    if n_found < n_clusters:
        warnings.warn(
            f"Number of distinct {side} clusters ({n_found}) found smaller than asked for "
            f"({n_clusters}): the data may not support that many, or the signal is too weak.",
            ConvergenceWarning, stacklevel=4)


def _warn_if_no_signal(csr, likelihood, row_labels, column_labels):
    """ConvergenceWarning (at the user's call to ``fit``) when the reported partition shows
    no structure (``_refine/signal.py``)."""
    if max(row_labels.max(), column_labels.max()) == 0:
        return
    reason = finds_nothing(csr, likelihood, row_labels, column_labels)
    if reason is not None:
        warnings.warn(
            f"The partition found may carry no structure: {reason}. Try the values as they "
            "are rather than X > 0, fewer clusters, or n_init > 1 (user guide, \"When a fit "
            "finds nothing\").", ConvergenceWarning, stacklevel=4)


def _selection(index, size, name):
    """Validated indices of training rows (columns) from indices or a boolean mask."""
    if index is None:
        return np.arange(size)
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (size,):
            raise ValueError(f"A boolean mask for {name} must have length {size}.")
        return np.flatnonzero(index)
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer indices or a boolean mask.")
    if index.size and (index.min() < -size or index.max() >= size):
        raise ValueError(f"{name} has indices outside [0, {size}).")
    return np.arange(size)[index]


def block_densities(csr, row_resp, column_resp):
    """Mean value of each block under soft memberships: ``G^T A D / (G^T 1)(1^T D)``.

    Returns
    -------
    block : ndarray of shape (n_row_clusters, n_column_clusters)
    """
    mass = np.outer(row_resp.sum(0), column_resp.sum(0))
    total = row_resp.T @ (csr @ column_resp)
    return np.divide(total, mass, out=np.zeros_like(mass), where=mass > 0)


def pairing_order(block):
    """Column-cluster order that pairs row cluster k with the column cluster it links to most.

    Returns
    -------
    order : ndarray of shape (n_column_clusters,)
        ``order[k]`` is the column cluster paired with row cluster k; column clusters
        paired with no row cluster (when there are more column than row clusters, as
        with ``n_facets > 1``) follow, in their original order.
    """
    _, order = linear_sum_assignment(-block)
    unpaired = np.setdiff1d(np.arange(block.shape[1]), order)
    return np.concatenate([order, unpaired])
