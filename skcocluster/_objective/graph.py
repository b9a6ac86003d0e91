"""The graph regulariser of ``graph_weight`` (docs/model.rst, "The graph regulariser").

Neighbours in a similarity graph of the rows (columns) should have similar posteriors over
their positions and their clusters:
``R = sum_ij w_ij [SKL(q(X_i), q(X_j)) + JS(gamma_i, gamma_j)]``, the symmetric KL between
the two Gaussian posteriors (isotropic for the deep LBM, diagonal for the GMM-VAEs of
VariationalCoclustering) plus the Jensen-Shannon divergence between the two membership
vectors; the training objective gets ``- beta_t (R_rows + R_cols)``, with ``beta_t``
raised linearly from 0 to ``graph_weight`` over the first epochs. The deep LBM computes it
on the whole graph at every epoch (:class:`GraphTerm`); VariationalCoclustering, which
trains on mini-batches, estimates it from the edges leaving each batch
(:func:`batch_graph_divergence`). The graphs themselves are built by
``_options/neighbour_graph.py``.
"""

from dataclasses import dataclass

import scipy.sparse as sp
import torch

from .terms import ObjectiveTerm

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


class GraphTerm(ObjectiveTerm):
    """``- (R_rows + R_cols)`` at the warm-up weight ``beta_t``, reported at ``graph_weight``.

    Parameters
    ----------
    graph : GraphRegulariser
    heads : tuple of ClusteringHead
        The row and column heads whose memberships enter the Jensen-Shannon part
        (differentiable in the positions, so that it trains the encoders).
    """

    name = "graph"

    def __init__(self, graph, heads):
        self.graph = graph
        self.heads = heads

    def value(self, state):
        """Minus the divergence at ``state.posteriors`` (a differentiable scalar).

        Parameters
        ----------
        state : EpochState

        Returns
        -------
        value : Tensor (scalar)
        """
        row_mean, row_log_var, column_mean, column_log_var = state.posteriors
        row_resp = self.heads[0].memberships(row_mean, row_log_var)
        column_resp = self.heads[1].memberships(column_mean, column_log_var)
        return -self.graph.divergence(state.posteriors, row_resp, column_resp)

    def weight(self, epoch):
        """``beta_t`` (:meth:`GraphRegulariser.weight_at`); ``graph_weight`` at None.

        Parameters
        ----------
        epoch : int or None

        Returns
        -------
        weight : float
        """
        return self.graph.weight_at(epoch)
