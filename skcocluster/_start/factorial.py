"""Factorial k-means: an additive clustering of positions into several partitions at once,
the start of the facets."""

import numpy as np

from sklearn.cluster import KMeans


# Random starts of the factorisation in factorial k-means, and the largest cross partition
# it clusters first.
FACTORIAL_STARTS = 30
MAX_CROSS_CELLS = 64


def factorial_kmeans(points, cluster_counts, seed, n_starts=FACTORIAL_STARTS):
    """Labels of an additive clustering ``points_i ~ sum_j C^j[l_j(i)]`` (factorial k-means).

    Plain k-means on positions that hold several independent partitions picks a mixture
    of them (it splits the widest direction first). Here k-means with ``prod_j K_j``
    clusters first finds the cells of the cross partition; their centroids are then
    factorised into one centroid table per facet by backfitting (each facet's table is
    the k-means of what the other facets leave), from random label assignments of the
    cells, keeping the best weighted sum of squares; the row labels follow their cell.
    When the cross partition would have more cells than ``MAX_CROSS_CELLS`` or than a
    fifth of the points, the cells are the points themselves.

    Parameters
    ----------
    points : ndarray of shape (n, d)
    cluster_counts : sequence of int
        ``K_j`` of each facet.
    seed : int

    Returns
    -------
    labels : ndarray of shape (n_facets, n)
    """
    rng = np.random.default_rng(seed)
    n_cells = int(np.prod(cluster_counts))
    if n_cells <= min(MAX_CROSS_CELLS, points.shape[0] // 5):
        cross = KMeans(n_cells, n_init=3, random_state=seed).fit(points)
        cells, cell_of_point = cross.cluster_centers_, cross.labels_
        weights = np.bincount(cell_of_point, minlength=n_cells).astype(float)
    else:
        cells, cell_of_point = points, np.arange(points.shape[0])
        weights = np.ones(points.shape[0])
    best, best_loss = None, np.inf
    for _ in range(n_starts):
        labels = np.vstack([rng.integers(k, size=cells.shape[0]) for k in cluster_counts])
        labels, loss = _backfit(cells, weights, labels, cluster_counts)
        if loss < best_loss:
            best, best_loss = labels, loss
    return best[:, cell_of_point]


def _backfit(points, weights, labels, cluster_counts, n_sweeps=50):
    """Backfitting sweeps of factorial k-means from given labels; returns labels and loss."""
    fitted = [_weighted_means(points, weights, l, k) for l, k in zip(labels, cluster_counts)]
    for _ in range(n_sweeps):
        previous = labels.copy()
        for j, n_clusters in enumerate(cluster_counts):
            others = sum(fitted[k][labels[k]] for k in range(len(fitted)) if k != j)
            residual = points - others
            centroids = _weighted_means(residual, weights, labels[j], n_clusters)
            labels[j] = ((residual[:, None, :] - centroids[None]) ** 2).sum(2).argmin(1)
            fitted[j] = _weighted_means(residual, weights, labels[j], n_clusters)
        if np.array_equal(previous, labels):
            break
    approximation = sum(table[l] for table, l in zip(fitted, labels))
    return labels, float((weights * ((points - approximation) ** 2).sum(1)).sum())


def _weighted_means(points, weights, labels, n_clusters):
    """Weighted mean of the points of each label (0 for an empty label)."""
    mass = np.bincount(labels, weights, minlength=n_clusters)
    sums = np.zeros((n_clusters, points.shape[1]))
    np.add.at(sums, labels, weights[:, None] * points)
    return sums / np.maximum(mass, 1e-12)[:, None]


def additive_tables(points, labels, cluster_counts, n_sweeps=20):
    """Centroid tables ``C^j`` of an additive clustering ``points_i ~ sum_j C^j[l_j(i)]``
    with fixed labels, by backfitting.

    Parameters
    ----------
    points : ndarray of shape (n, d)
    labels : ndarray of shape (n_facets, n)
    cluster_counts : sequence of int

    Returns
    -------
    tables : list of ndarray
        One table of shape (K_j, d) per facet.
    """
    fitted = [np.zeros((k, points.shape[1])) for k in cluster_counts]
    weights = np.ones(points.shape[0])
    for _ in range(n_sweeps):
        for j, n_clusters in enumerate(cluster_counts):
            others = sum(fitted[k][labels[k]] for k in range(len(fitted)) if k != j)
            fitted[j] = _weighted_means(points - others, weights, labels[j], n_clusters)
    return fitted


def additive_fit_loss(points, labels, cluster_counts, n_sweeps=20):
    """Share of the points' spread an additive clustering with fixed labels leaves out."""
    fitted = additive_tables(points, labels, cluster_counts, n_sweeps)
    approximation = sum(table[l] for table, l in zip(fitted, labels))
    total = ((points - points.mean(0)) ** 2).sum()
    return float(((points - approximation) ** 2).sum() / max(total, 1e-300))
