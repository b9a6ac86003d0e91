"""A matrix whose rows carry several independent partitions (for ``n_facets``)."""

import numbers

import numpy as np
from sklearn.utils import check_random_state


def _facet_block_params(n_clusters, block_params, p_in, p_out):
    """One block-probability table per facet (diagonal ``p_in`` / ``p_out`` by default)."""
    if block_params is None:
        return [np.full((k, k), p_out) + (p_in - p_out) * np.eye(k) for k in n_clusters]
    if len(block_params) != len(n_clusters):
        raise ValueError("block_params needs one table per facet (one per entry of "
                         f"n_clusters); got {len(block_params)} for {len(n_clusters)} facets.")
    tables = [np.asarray(table, dtype=float) for table in block_params]
    for k, table in zip(n_clusters, tables):
        if table.ndim != 2 or table.shape[0] != k:
            raise ValueError(f"Each block_params table must have shape (K_j, Q_j) with K_j "
                             f"its facet's row clusters; got {table.shape} for K_j={k}.")
        if np.any(table < 0) or np.any(table > 1):
            raise ValueError("block_params entries must be probabilities in [0, 1].")
    return tables


def make_multi_facet_blocks(n_rows=600, n_cols=400, n_clusters=(3, 2), *, block_params=None,
                            p_in=0.35, p_out=0.1, random_state=None):
    """Binary matrix whose rows carry independent partitions, one per group of columns.

    Row ``i`` gets one label ``r_i^j`` per facet ``j``, drawn uniformly and independently
    across facets. The columns are split into as many groups as facets (sizes as equal as
    possible); column ``c`` of group ``j`` gets a cluster ``q_c`` of that group, and
    ``X[i, c] ~ Bernoulli(block_params[j][r_i^j, q_c])``: group ``j`` sees the rows only
    through their facet-``j`` partition. A single partition of the rows cannot explain the
    matrix without taking the product of the facets' partitions.

    Parameters
    ----------
    n_rows, n_cols : int, default=600, 400
        Shape of the matrix.
    n_clusters : sequence of int, default=(3, 2)
        Number of row clusters of each facet.
    block_params : list of array-like, optional
        One table of shape ``(n_clusters[j], Q_j)`` of Bernoulli probabilities per facet
        (``Q_j`` column clusters in group ``j``). Default: ``Q_j = n_clusters[j]`` and a
        diagonal table with ``p_in`` on the diagonal and ``p_out`` elsewhere.
    p_in, p_out : float, default=0.35, 0.1
        Probabilities of the default tables.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_rows, n_cols)
        The 0/1 matrix (float64).
    row_labels : ndarray of shape (n_facets, n_rows)
        Row partition of each facet.
    column_labels : ndarray of shape (n_facets, n_cols)
        Column partition of each facet: the column cluster within the facet's own group,
        and ``Q_j`` (one extra cluster) for the columns of the other groups, which the
        facet does not affect.

    Examples
    --------
    >>> from skcocluster.datasets import make_multi_facet_blocks
    >>> X, row_labels, column_labels = make_multi_facet_blocks(60, 40, (3, 2),
    ...                                                        random_state=0)
    >>> X.shape, row_labels.shape, column_labels.shape
    ((60, 40), (2, 60), (2, 40))
    """
    n_clusters = [int(k) for k in n_clusters]
    if not n_clusters or any(k < 1 for k in n_clusters):
        raise ValueError(f"n_clusters must be a non-empty sequence of positive ints; got "
                         f"{n_clusters!r}.")
    n_facets = len(n_clusters)
    for name, value in (("n_rows", n_rows), ("n_cols", n_cols)):
        if not isinstance(value, numbers.Integral) or value < n_facets:
            raise ValueError(f"{name} must be an int of at least {n_facets} (the number of "
                             f"facets); got {value!r}.")
    tables = _facet_block_params(n_clusters, block_params, p_in, p_out)
    rng = check_random_state(random_state)
    row_labels = np.vstack([rng.randint(k, size=n_rows) for k in n_clusters])
    group = np.repeat(np.arange(n_facets), np.diff(np.linspace(0, n_cols, n_facets + 1)
                                                   .round().astype(int)))
    rng.shuffle(group)
    column_labels = np.vstack([np.full(n_cols, table.shape[1]) for table in tables])
    probabilities = np.empty((n_rows, n_cols))
    for j, table in enumerate(tables):
        members = np.flatnonzero(group == j)
        column_labels[j, members] = rng.randint(table.shape[1], size=members.size)
        probabilities[:, members] = table[row_labels[j][:, None], column_labels[j, members]]
    X = (rng.uniform(size=probabilities.shape) < probabilities).astype(np.float64)
    return X, row_labels, column_labels
