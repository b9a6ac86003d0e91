"""Scores that compare co-clusterings (row and column partitions) with a reference.

The co-clustering adjusted Rand index (CARI) of Robert, Vasseur & Brault (2021) is
the adjusted Rand index between the two partitions of the *cells* of the matrix
that a pair (row partition, column partition) induces: cell ``(i, j)`` gets the
label ``(r_i, c_j)``. It is computed here from the row and column contingency
tables only, so it costs no more than two ordinary ARIs even for matrices with
10^10 cells.

References
----------
Robert, V., Vasseur, Y. and Brault, V. (2021). Comparing high-dimensional
partitions with the co-clustering adjusted Rand index. *Journal of
Classification*, 38, 158-186.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = [
    "coclustering_adjusted_rand_score",
    "clustering_accuracy",
    "clustering_scores",
    "coclustering_scores",
]


def _check_label_pair(labels_true, labels_pred, true_name, pred_name):
    """Validate a pair of label vectors that partition the same items.

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Cluster labels (any hashable values).
    true_name, pred_name : str
        Parameter names used in error messages.

    Returns
    -------
    labels_true, labels_pred : ndarray of shape (n_samples,)
    """
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    for name, labels in ((true_name, labels_true), (pred_name, labels_pred)):
        if labels.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got an array of shape {labels.shape}.")
    if labels_true.shape[0] != labels_pred.shape[0]:
        raise ValueError(
            f"{true_name} and {pred_name} must have the same length, got "
            f"{labels_true.shape[0]} and {labels_pred.shape[0]}."
        )
    return labels_true, labels_pred


def _pair_sums(labels_true, labels_pred):
    """Sums of squares of a contingency table and of its margins, as Python ints.

    These four numbers are all the (adjusted) Rand index needs, and each is
    multiplicative under the Kronecker product of contingency tables, which is
    what makes the CARI cheap.

    Parameters
    ----------
    labels_true, labels_pred : ndarray of shape (n_samples,)
        Two partitions of the same items.

    Returns
    -------
    n_items : int
        Number of items (sum of the table).
    table_sq : int
        Sum of the squared table entries.
    true_sq : int
        Sum of the squared row margins (sizes of the true clusters).
    pred_sq : int
        Sum of the squared column margins (sizes of the predicted clusters).
    """
    table = contingency_matrix(labels_true, labels_pred, sparse=True).tocsr()
    # int64 squares are exact while n_samples < 3e9; Python ints take over from here.
    counts = table.data.astype(np.int64)
    true_sizes = np.asarray(table.sum(axis=1), dtype=np.int64).ravel()
    pred_sizes = np.asarray(table.sum(axis=0), dtype=np.int64).ravel()
    return (
        int(counts.sum()),
        int(np.dot(counts, counts)),
        int(np.dot(true_sizes, true_sizes)),
        int(np.dot(pred_sizes, pred_sizes)),
    )


def _ari_from_pair_sums(n_items, table_sq, true_sq, pred_sq):
    """Adjusted Rand index from the sums returned by :func:`_pair_sums`.

    The pair confusion counts (ordered pairs of distinct items) follow the
    formulas of :func:`sklearn.metrics.cluster.pair_confusion_matrix`, and the
    index the same expression and special case as
    :func:`sklearn.metrics.adjusted_rand_score`. Python ints keep it exact.

    Parameters
    ----------
    n_items, table_sq, true_sq, pred_sq : int
        See :func:`_pair_sums`.

    Returns
    -------
    ari : float
    """
    together_both = table_sq - n_items
    together_pred_only = pred_sq - table_sq
    together_true_only = true_sq - table_sq
    apart_both = n_items * n_items - true_sq - pred_sq + table_sq
    # Empty data or identical partitions (including both "one cluster").
    if together_pred_only == 0 and together_true_only == 0:
        return 1.0
    numerator = 2 * (together_both * apart_both - together_true_only * together_pred_only)
    denominator = (together_both + together_true_only) * (together_true_only + apart_both) + (
        together_both + together_pred_only
    ) * (together_pred_only + apart_both)
    # int / int on Python ints rounds once, with no overflow.
    return numerator / denominator


def coclustering_adjusted_rand_score(
    row_labels_true, column_labels_true, row_labels_pred, column_labels_pred
):
    """Co-clustering adjusted Rand index (CARI).

    The adjusted Rand index between the partitions of the ``n_rows * n_cols``
    cells induced by the true and the predicted co-clusterings, where cell
    ``(i, j)`` is labelled by the pair (row cluster of ``i``, column cluster
    of ``j``) (Robert, Vasseur & Brault, 2021). It is 1 for identical
    co-clusterings up to a relabelling of the row clusters and of the column
    clusters, close to 0 (possibly negative) for independent ones.

    The cells are never built: the contingency table of the cell partitions is
    the Kronecker product of the row and column contingency tables, and the
    sums of squares the index needs factor over that product. The arithmetic is
    exact (Python integers) for any matrix size.

    Parameters
    ----------
    row_labels_true : array-like of shape (n_rows,)
        Reference row cluster labels.
    column_labels_true : array-like of shape (n_cols,)
        Reference column cluster labels.
    row_labels_pred : array-like of shape (n_rows,)
        Predicted row cluster labels.
    column_labels_pred : array-like of shape (n_cols,)
        Predicted column cluster labels.

    Returns
    -------
    cari : float
        Between -1 and 1; 1.0 when both co-clusterings agree, including the
        degenerate cases :func:`sklearn.metrics.adjusted_rand_score` scores as
        1.0 (no cells, or both sides trivially one cluster).

    Raises
    ------
    ValueError
        If a true and a predicted label vector of the same side differ in length.

    Examples
    --------
    >>> from skcocluster.metrics import coclustering_adjusted_rand_score
    >>> coclustering_adjusted_rand_score([0, 0, 1], [0, 1], [1, 1, 0], [5, 7])
    1.0
    """
    row_sums = _pair_sums(
        *_check_label_pair(row_labels_true, row_labels_pred, "row_labels_true", "row_labels_pred")
    )
    column_sums = _pair_sums(
        *_check_label_pair(
            column_labels_true, column_labels_pred, "column_labels_true", "column_labels_pred"
        )
    )
    cell_sums = [row_sum * column_sum for row_sum, column_sum in zip(row_sums, column_sums)]
    return float(_ari_from_pair_sums(*cell_sums))


def clustering_accuracy(labels_true, labels_pred):
    """Accuracy after the best one-to-one matching of predicted to true clusters.

    The matching maximises the number of items whose predicted cluster is
    mapped to their true cluster (Hungarian algorithm on the contingency table,
    :func:`scipy.optimize.linear_sum_assignment`). The numbers of true and
    predicted clusters may differ; items of unmatched clusters count as errors.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Reference cluster labels.
    labels_pred : array-like of shape (n_samples,)
        Predicted cluster labels.

    Returns
    -------
    accuracy : float
        Fraction of correctly matched items, in [0, 1].

    Raises
    ------
    ValueError
        If the label vectors differ in length or are empty.

    Examples
    --------
    >>> from skcocluster.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2], [1, 1, 0, 0, 0])
    0.8
    """
    labels_true, labels_pred = _check_label_pair(
        labels_true, labels_pred, "labels_true", "labels_pred"
    )
    if labels_true.shape[0] == 0:
        raise ValueError("labels_true and labels_pred are empty; accuracy is undefined.")
    table = contingency_matrix(labels_true, labels_pred)
    true_index, pred_index = linear_sum_assignment(table, maximize=True)
    return float(table[true_index, pred_index].sum() / labels_true.shape[0])


def clustering_scores(labels_true, labels_pred):
    """NMI, ARI and matched accuracy of one partition against a reference.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Reference cluster labels.
    labels_pred : array-like of shape (n_samples,)
        Predicted cluster labels.

    Returns
    -------
    scores : dict
        ``"nmi"`` (:func:`sklearn.metrics.normalized_mutual_info_score`),
        ``"ari"`` (:func:`sklearn.metrics.adjusted_rand_score`) and
        ``"accuracy"`` (:func:`clustering_accuracy`), each a float.
    """
    labels_true, labels_pred = _check_label_pair(
        labels_true, labels_pred, "labels_true", "labels_pred"
    )
    return {
        "nmi": float(normalized_mutual_info_score(labels_true, labels_pred)),
        "ari": float(adjusted_rand_score(labels_true, labels_pred)),
        "accuracy": clustering_accuracy(labels_true, labels_pred),
    }


def _side_scores(labels_true, labels_pred, side):
    """Clustering scores of one side, keys prefixed with the side name.

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_items,)
        Reference and predicted labels of the rows or of the columns.
    side : {"row", "column"}
        Used for the key prefix and for error messages.

    Returns
    -------
    scores : dict
        ``"{side}_nmi"``, ``"{side}_ari"``, ``"{side}_accuracy"``.
    """
    labels_true, labels_pred = _check_label_pair(
        labels_true, labels_pred, f"{side}_labels_true", f"{side}_labels_pred"
    )
    return {
        f"{side}_{name}": value
        for name, value in clustering_scores(labels_true, labels_pred).items()
    }


def coclustering_scores(row_labels_true, column_labels_true, row_labels_pred, column_labels_pred):
    """Row scores, column scores and CARI of a co-clustering against a reference.

    Parameters
    ----------
    row_labels_true : array-like of shape (n_rows,)
        Reference row cluster labels.
    column_labels_true : array-like of shape (n_cols,)
        Reference column cluster labels.
    row_labels_pred : array-like of shape (n_rows,)
        Predicted row cluster labels.
    column_labels_pred : array-like of shape (n_cols,)
        Predicted column cluster labels.

    Returns
    -------
    scores : dict
        ``"row_nmi"``, ``"row_ari"``, ``"row_accuracy"``, ``"column_nmi"``,
        ``"column_ari"``, ``"column_accuracy"`` (see :func:`clustering_scores`)
        and ``"cari"`` (:func:`coclustering_adjusted_rand_score`), each a float.

    Raises
    ------
    ValueError
        If ``row_labels_true`` and ``row_labels_pred`` (or
        ``column_labels_true`` and ``column_labels_pred``) differ in length.
    """
    scores = _side_scores(row_labels_true, row_labels_pred, "row")
    scores.update(_side_scores(column_labels_true, column_labels_pred, "column"))
    scores["cari"] = coclustering_adjusted_rand_score(
        row_labels_true, column_labels_true, row_labels_pred, column_labels_pred
    )
    return scores
