"""Neighbour graphs of the rows and columns for the graph regulariser (``graph_weight``;
docs/model.rst, "The graph regulariser").

The graphs (numpy / scipy) are built once, before training: the k nearest neighbours of
each row in a cheap embedding of the matrix (a randomised truncated SVD of the
degree-normalised matrix ``Abar``, without its leading, trivial direction), by cosine
distance; never from ``A A^T``, which is dense for text. Columns: the same on ``A^T``.
Weights ``w_ij = exp(-d_ij^2 / (2 s_i^2))`` with ``s_i`` the distance of row i to its k-th
neighbour, normalised so each row's weights sum to 1. A user may give the row graph.

The regulariser itself (the divergence over the graphs' edges) is ``_objective/graph.py``.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.extmath import randomized_svd

from .._data.validation import inverse_sqrt_degrees, normalise_adjacency

# Singular directions of the embedding the neighbours are searched in (beyond the first).
N_EMBEDDING_COMPONENTS = 32


def spectral_embedding(csr, n_components, random_state):
    """Row and column coordinates from a truncated SVD of the normalised matrix.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    n_components : int
        Directions kept after dropping the leading one (the square-root degrees).
    random_state : int

    Returns
    -------
    rows : ndarray of shape (M, k)
        ``U S`` without the leading direction (k <= n_components; k = 0 for a matrix too
        small to have one).
    columns : ndarray of shape (P, k)
        ``V S`` likewise.
    """
    row_scale, column_scale = inverse_sqrt_degrees(csr)
    normalised = normalise_adjacency(csr, row_scale, column_scale)
    n_rows, n_cols = csr.shape
    rank = min(n_components + 1, min(n_rows, n_cols))
    if min(n_rows, n_cols) <= 2 * rank + 10:
        u, s, vt = np.linalg.svd(normalised.toarray(), full_matrices=False)
        u, s, vt = u[:, :rank], s[:rank], vt[:rank]
    else:
        u, s, vt = randomized_svd(normalised, rank, random_state=random_state)
    return (u * s)[:, 1:], (vt.T * s)[:, 1:]


def knn_graph(embedding, n_neighbors):
    """Row-normalised kNN graph of points by cosine distance, with Gaussian weights.

    Points of zero norm (empty rows or columns) get no neighbours and are no one's
    neighbour. ``s_i`` is the distance of point i to its k-th neighbour.

    Parameters
    ----------
    embedding : ndarray of shape (n, k)
    n_neighbors : int

    Returns
    -------
    graph : csr_matrix of shape (n, n)
        Non-negative weights, each non-empty row summing to 1, zero diagonal.
    """
    n_nodes = embedding.shape[0]
    norms = np.linalg.norm(embedding, axis=1)
    valid = np.flatnonzero(norms > 1e-12)
    n_neighbors = min(n_neighbors, valid.size - 1)
    if n_neighbors < 1:
        return sp.csr_matrix((n_nodes, n_nodes))
    points = embedding[valid] / norms[valid, None]
    search = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(points)
    euclidean, index = search.kneighbors(points)
    # On unit vectors the cosine distance is half the squared Euclidean distance; the
    # first hit is the point itself (or a duplicate of it, which is as good a neighbour).
    distance = 0.5 * euclidean[:, 1:] ** 2
    neighbours = valid[index[:, 1:]]
    own = np.repeat(valid, n_neighbors)
    bandwidth = np.maximum(distance[:, -1], 1e-12)
    weights = np.exp(-distance ** 2 / (2.0 * bandwidth[:, None] ** 2)).ravel()
    graph = sp.csr_matrix((weights, (own, neighbours.ravel())), shape=(n_nodes, n_nodes))
    graph.setdiag(0.0)
    graph.eliminate_zeros()
    return row_normalise(graph)


def row_normalise(graph):
    """Scale each non-empty row of a non-negative sparse matrix to sum 1."""
    sums = np.asarray(graph.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(scale) @ graph)


def check_row_graph(graph, n_rows):
    """Validate a user's row graph; return it row-normalised, without self-loops.

    Parameters
    ----------
    graph : {array-like, sparse matrix} of shape (n_rows, n_rows)
        Non-negative, finite similarity weights between the rows of X (e.g. citations).
    n_rows : int

    Returns
    -------
    graph : csr_matrix of shape (n_rows, n_rows)

    Raises
    ------
    ValueError
        When the graph is not a 2-D matrix of shape (n_rows, n_rows) with finite,
        non-negative weights.
    """
    if sp.issparse(graph):
        graph = sp.csr_matrix(graph, dtype=np.float64)
    else:
        try:
            dense = np.asarray(graph, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"row_graph must be a numeric (n_rows, n_rows) matrix: {error}")
        if dense.ndim != 2:
            raise ValueError(f"row_graph must be a 2-D matrix, got {dense.ndim} dimension(s).")
        graph = sp.csr_matrix(dense)
    if graph.shape != (n_rows, n_rows):
        raise ValueError(f"row_graph has shape {graph.shape}, but X has {n_rows} rows: it "
                         f"must be a ({n_rows}, {n_rows}) matrix of row similarities.")
    if not np.all(np.isfinite(graph.data)):
        raise ValueError("row_graph contains NaN or infinity.")
    if graph.data.size and graph.data.min() < 0:
        raise ValueError("row_graph has negative weights; similarities must be >= 0.")
    graph = graph.tolil()
    graph.setdiag(0.0)
    graph = graph.tocsr()
    graph.eliminate_zeros()
    return row_normalise(graph)


def neighbour_graphs(csr, n_neighbors, random_state, row_graph=None):
    """The row and column graphs used by the regulariser.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    n_neighbors : int
    random_state : int
    row_graph : csr_matrix of shape (M, M), optional
        An already validated user graph (:func:`check_row_graph`), used instead of the
        kNN graph of the rows.

    Returns
    -------
    row_graph : csr_matrix of shape (M, M)
    column_graph : csr_matrix of shape (P, P)
    """
    rows, columns = spectral_embedding(csr, N_EMBEDDING_COMPONENTS, random_state)
    if row_graph is None:
        row_graph = knn_graph(rows, n_neighbors)
    return row_graph, knn_graph(columns, n_neighbors)
