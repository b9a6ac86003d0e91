"""Neighbour graphs of the rows and columns and the DGG graph regulariser (``graph_weight``).

design/options.md, 2 (Yang et al., ICCV 2019, seed 003): neighbours in a similarity graph
should have similar posteriors over their positions and their clusters.

- The graphs (numpy / scipy) are built once, before training: the k nearest neighbours of
  each row in a cheap embedding of the matrix (a randomised truncated SVD of the
  degree-normalised matrix ``Abar``, without its leading, trivial direction), by cosine
  distance. Never from ``A A^T``, which is dense for text. Columns: the same on ``A^T``.
  Weights ``w_ij = exp(-d_ij^2 / (2 s_i^2))`` with ``s_i`` the distance of row i to its
  k-th neighbour, normalised so each row's weights sum to 1. A user may give the row graph.
- The regulariser (torch) is
  ``R = sum_ij w_ij [SKL(q(X_i), q(X_j)) + JS(gamma_i, gamma_j)]``, the symmetric KL between
  the two Gaussian posteriors (isotropic for the deep LBM, diagonal for the GMM-VAEs of
  VariationalCoclustering) plus the Jensen-Shannon divergence between the two membership
  vectors; the training objective gets ``- beta_t (R_rows + R_cols)``, with ``beta_t``
  raised linearly from 0 to ``graph_weight`` over the first epochs. The deep LBM computes
  it on the whole graph at every epoch (:func:`graph_terms`); VariationalCoclustering, which
  trains on mini-batches, estimates it from the edges leaving each batch
  (:func:`batch_graph_divergence`).
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.extmath import randomized_svd

from .._data.validation import inverse_sqrt_degrees, normalise_adjacency

# Singular directions of the embedding the neighbours are searched in (beyond the first).
N_EMBEDDING_COMPONENTS = 32
# The log-variances are floored at this value inside the symmetric KL only. Posterior
# variances of well-observed nodes are tiny (e^-5 to e^-10), which would make the symmetric
# KL of two neighbours thousands of times their squared distance; at the floor it is
# exactly ``||m_i - m_j||^2``, so ``graph_weight`` reads as a Gaussian coupling of unit
# variance between neighbours' positions.
GRAPH_LOG_VAR_FLOOR = 0.0
# Epochs over which the weight is raised from 0 to graph_weight (the encoders already
# smooth over two hops; a full-strength term from the start over-smooths).
GRAPH_WARMUP_EPOCHS = 50
# Memberships are floored before their logs in the Jensen-Shannon divergence.
MIN_MEMBERSHIP = 1e-12


# ---------------------------------------------------------------------- graph building
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


# ---------------------------------------------------------------------- the regulariser
@dataclass
class Edges:
    """A weighted graph as torch edge lists on the training device."""

    source: torch.Tensor
    target: torch.Tensor
    weight: torch.Tensor

    @classmethod
    def from_sparse(cls, graph, device):
        """The edges of a sparse graph, in row order (``source`` sorted)."""
        coo = sp.csr_matrix(graph).tocoo()
        return cls(torch.as_tensor(coo.row, dtype=torch.long, device=device),
                   torch.as_tensor(coo.col, dtype=torch.long, device=device),
                   torch.as_tensor(coo.data, dtype=torch.float32, device=device))

    def leaving(self, ids):
        """The edges whose source is one of ``ids``, on the nodes they touch.

        Parameters
        ----------
        ids : LongTensor of shape (n_ids,)
            Distinct node indices.

        Returns
        -------
        edges : Edges
            The edges leaving ``ids``, their ends indexed into ``nodes``.
        nodes : LongTensor of shape (n_nodes,)
            The sorted distinct nodes at either end of those edges.
        """
        # ``source`` is sorted (from_sparse), so each node's edges are one contiguous run.
        starts = torch.searchsorted(self.source, ids)
        counts = torch.searchsorted(self.source, ids, right=True) - starts
        run_offsets = torch.cumsum(counts, 0) - counts
        positions = (torch.repeat_interleave(starts - run_offsets, counts)
                     + torch.arange(int(counts.sum()), device=ids.device))
        ends = torch.cat([self.source[positions], self.target[positions]])
        nodes, local = torch.unique(ends, return_inverse=True)
        n_edges = positions.numel()
        return Edges(local[:n_edges], local[n_edges:], self.weight[positions]), nodes


@dataclass
class GraphRegulariser:
    """What the training loop needs for ``graph_weight``: the weight and both graphs."""

    weight: float
    rows: Edges
    columns: Edges
    warmup_epochs: int = GRAPH_WARMUP_EPOCHS

    def weight_at(self, epoch):
        """``beta_t``: raised linearly from 0 to ``weight`` over ``warmup_epochs``."""
        if epoch is None or self.warmup_epochs <= 0:
            return self.weight
        return self.weight * min(1.0, epoch / self.warmup_epochs)

    def divergence(self, posteriors, row_resp, column_resp):
        """``R_rows + R_cols`` (a scalar tensor), without the weight.

        Parameters
        ----------
        posteriors : tuple of Tensor
            Row mean (M, D), row log-variance (M,), column mean (P, D), column
            log-variance (P,).
        row_resp, column_resp : Tensor of shape (M, L) and (P, Q)
            Memberships, differentiable in the positions where the caller wants the
            Jensen-Shannon term to train the encoders.
        """
        row_mean, row_log_var, column_mean, column_log_var = posteriors
        return (graph_divergence(self.rows, row_mean, row_log_var, row_resp)
                + graph_divergence(self.columns, column_mean, column_log_var, column_resp))


def graph_divergence(edges, mean, log_var, resp):
    """``sum_ij w_ij [SKL(q_i, q_j) + JS(gamma_i, gamma_j)]`` over one side's graph.

    Parameters
    ----------
    edges : Edges
    mean : Tensor of shape (n, D)
    log_var : Tensor of shape (n,) or (n, D)
        Isotropic or diagonal; floored at ``GRAPH_LOG_VAR_FLOOR`` here.
    resp : Tensor of shape (n, K)

    Returns
    -------
    value : Tensor (scalar)
    """
    if edges.weight.numel() == 0:
        return torch.zeros((), device=mean.device)
    i, j = edges.source, edges.target
    return (edges.weight * (symmetric_gaussian_kl(mean[i], log_var[i], mean[j], log_var[j])
                            + jensen_shannon(resp[i], resp[j]))).sum()


def symmetric_gaussian_kl(mean_a, log_var_a, mean_b, log_var_b):
    """``KL(a || b) + KL(b || a)`` of isotropic or diagonal Gaussians, per pair, variances
    floored.

    Isotropic (log-variances of shape (n_pairs,), one variance per Gaussian):
    ``D/2 (v_a / v_b + v_b / v_a - 2) + ||m_a - m_b||^2 (1 / v_a + 1 / v_b) / 2``.
    Diagonal (log-variances of shape (n_pairs, D)): the same sum taken coordinate by
    coordinate, ``sum_d [(v_ad / v_bd + v_bd / v_ad - 2) + (m_ad - m_bd)^2 (1 / v_ad +
    1 / v_bd)] / 2``.

    Returns
    -------
    skl : Tensor of shape (n_pairs,)
    """
    log_var_a = log_var_a.clamp(min=GRAPH_LOG_VAR_FLOOR)
    log_var_b = log_var_b.clamp(min=GRAPH_LOG_VAR_FLOOR)
    ratio = log_var_a - log_var_b
    if log_var_a.dim() == 2:
        return 0.5 * ((ratio.exp() + (-ratio).exp() - 2.0)
                      + (mean_a - mean_b).pow(2)
                      * ((-log_var_a).exp() + (-log_var_b).exp())).sum(1)
    latent_dim = mean_a.shape[1]
    sq_dist = (mean_a - mean_b).pow(2).sum(1)
    return (0.5 * latent_dim * (ratio.exp() + (-ratio).exp() - 2.0)
            + 0.5 * sq_dist * ((-log_var_a).exp() + (-log_var_b).exp()))


def batch_graph_divergence(edges, ids, n_nodes, posteriors_of):
    """Mini-batch estimate of one side's ``sum_ij w_ij [SKL(q_i, q_j) + JS(gamma_i, gamma_j)]``.

    Each edge is counted with its source node: the step sums the edges leaving the batch
    ``ids``, encoding the batch's nodes and their neighbours (so that both ends of an edge
    get the gradient, as in the full term), and scales the sum by ``n_nodes / len(ids)``.
    A batch that is a uniform random subset of the nodes (a slice of a random permutation)
    thus gives an unbiased estimate of the full term, as the other terms of a
    mini-batch step are, and over an epoch whose batches cover every node once the
    unscaled sums add up to the full term exactly (each edge is visited once).

    Parameters
    ----------
    edges : Edges
        The side's whole graph (:meth:`Edges.from_sparse`).
    ids : LongTensor of shape (n_ids,)
        The nodes of the batch (distinct).
    n_nodes : int
        Nodes of the side.
    posteriors_of : callable
        ``nodes -> (mean (n, D), log_var (n,) or (n, D), resp (n, K))`` for a LongTensor
        of nodes, differentiable where the term should train.

    Returns
    -------
    value : Tensor (scalar)
    """
    batch_edges, nodes = edges.leaving(ids)
    if batch_edges.weight.numel() == 0:
        return torch.zeros((), device=edges.weight.device)
    mean, log_var, resp = posteriors_of(nodes)
    return graph_divergence(batch_edges, mean, log_var, resp) * (n_nodes / ids.numel())


def jensen_shannon(p, q):
    """Jensen-Shannon divergence (nats) between rows of two stochastic matrices.

    Returns
    -------
    js : Tensor of shape (n_pairs,)
    """
    middle = 0.5 * (p + q)
    log_middle = middle.clamp(min=MIN_MEMBERSHIP).log()
    return 0.5 * ((p * (p.clamp(min=MIN_MEMBERSHIP).log() - log_middle)).sum(1)
                  + (q * (q.clamp(min=MIN_MEMBERSHIP).log() - log_middle)).sum(1))


def graph_terms(config, model, posteriors, epoch, row_resp=None, column_resp=None):
    """The graph regulariser as the training loops use it.

    Parameters
    ----------
    config : TrainingConfig
        ``config.graph`` is a :class:`GraphRegulariser`, or None (then both terms are 0).
    model : DeepLatentBlockModel
    posteriors : tuple of Tensor
    epoch : int or None
        Epoch of the alternating phase (sets the warm-up weight); None: full weight.
    row_resp, column_resp : Tensor, optional
        Differentiable memberships; by default those of the model's mixtures at the
        current positions (``gamma ∝ pi exp(-KL)``, differentiable in the positions).

    Returns
    -------
    train_term : Tensor or float
        ``beta_t R``, to subtract from the objective being maximised (carries gradients).
    full_value : float
        ``graph_weight R``, the value the reported objective includes, so that it does not
        fall merely because the weight is being raised (which would stop training early).
    """
    graph = getattr(config, "graph", None)
    if graph is None:
        return 0.0, 0.0
    if row_resp is None:
        row_resp = model.row_prior.responsibilities(posteriors[0], posteriors[1])
        column_resp = model.column_prior.responsibilities(posteriors[2], posteriors[3])
    value = graph.divergence(posteriors, row_resp, column_resp)
    return graph.weight_at(epoch) * value, graph.weight * float(value.detach())
