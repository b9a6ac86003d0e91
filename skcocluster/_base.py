"""The scikit-learn surface shared by the co-clustering estimators.

Input validation, the bicluster attributes and their pairing, and the plumbing of
``predict``, ``predict_proba``, ``transform``, ``score`` and ``reconstruct``. Subclasses
implement only the model-specific hooks (``_fit_memberships``, ``_row_memberships``, ...).
"""

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, BiclusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._data.validation import (as_csr, check_cluster_counts, check_n_clusters,
                               check_values_for_likelihood)
from ._likelihoods import resolve_likelihood

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
    """Shared fit/predict logic of the co-clustering estimators (not for direct use)."""

    def __sklearn_tags__(self):
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
        n_row_clusters, n_column_clusters, paired = self._check_n_clusters()
        csr = self._validated_matrix(X, reset=True)
        check_cluster_counts(csr.shape, n_row_clusters, n_column_clusters)
        self.n_rows_in_ = csr.shape[0]
        row_resp, column_resp = self._fit_memberships(csr, n_row_clusters, n_column_clusters,
                                                      row_graph=row_graph)
        self._set_memberships(csr, row_resp, column_resp, paired)
        _warn_on_empty_clusters(self.row_labels_, n_row_clusters, "row")
        _warn_on_empty_clusters(self.column_labels_, n_column_clusters, "column")
        return self

    def _check_n_clusters(self):
        """``(n_row_clusters, n_column_clusters, paired)`` of the reported partition."""
        return check_n_clusters(self.n_clusters)

    def _set_memberships(self, csr, row_resp, column_resp, paired):
        """Store memberships, labels, block probabilities and bicluster indicators."""
        block = block_densities(csr, row_resp, column_resp)
        if paired:
            order = pairing_order(block)
            column_resp = column_resp[:, order]
            block = block[:, order]
            self._reorder_column_clusters(order)
        self.row_memberships_ = row_resp
        self.column_memberships_ = column_resp
        self.row_labels_ = row_resp.argmax(1)
        self.column_labels_ = column_resp.argmax(1)
        self.block_probabilities_ = block
        n_row_clusters, n_column_clusters = row_resp.shape[1], column_resp.shape[1]
        if paired:
            row_ids = col_ids = range(n_row_clusters)
        else:
            row_ids = [l for l in range(n_row_clusters) for _ in range(n_column_clusters)]
            col_ids = [q for _ in range(n_row_clusters) for q in range(n_column_clusters)]
        self.rows_ = np.vstack([self.row_labels_ == l for l in row_ids])
        self.columns_ = np.vstack([self.column_labels_ == q for q in col_ids])

    # ------------------------------------------------------------------ prediction
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
        return self._row_memberships(self._validated_matrix(X, reset=False))

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
        return self._column_memberships(self._validated_columns(X))

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

    def score(self, X, y=None):
        """Evidence lower bound per cell of the rows of ``X`` under the fitted model.

        Higher is better. It lets ``GridSearchCV`` compare numbers of clusters (or other
        parameters) on held-out rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_new_rows, n_columns)
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        return float(self._score_rows(self._validated_matrix(X, reset=False)))

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
    n_found = np.unique(labels).size
    if n_found < n_clusters:
        warnings.warn(
            f"Number of distinct {side} clusters ({n_found}) found smaller than asked for "
            f"({n_clusters}): the data may not support that many, or the signal is too weak.",
            ConvergenceWarning)


def _selection(index, size, name):
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
