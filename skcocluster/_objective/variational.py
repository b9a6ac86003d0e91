"""The objective of VariationalCoclustering as a list of terms.

The objective, in nats of the whole matrix (reported divided by the number of cells),
``docs/model.rst``, "The variational model"::

    J = w_row  sum_i bound_i  + lambda M I_NCE^row
      + w_col  sum_j bound_j  + lambda P I_NCE^col
      + w_cell sum_ij bound_ij + lambda_w nnz(A) I_NCE^cell
      + beta sum(|A|) I(p^)
      - graph_weight (R_rows + R_cols)          (only with graph_weight > 0)

Each term is a :class:`VariationalTerm` that the options add to the list
(:func:`objective_terms`): a weight of 0 leaves its term out. Each step estimates every term
without bias from a batch of rows, a batch of columns and a sample of cells (all nonzeros
of the row batch, capped, plus uniformly drawn zero cells, each group reweighted to its
count). ``I(p^)`` is computed on the full sparse matrix: the memberships of the rows and
columns outside the batch are those of the start of the pass. ``R`` is the neighbour-graph
regulariser (``docs/model.rst``, "The graph regulariser"), estimated from the edges leaving
the step's batches.
"""

from dataclasses import dataclass

import torch

from .._data.variational import gather, side_memberships, sparse_product
from .._nn.vae import mutual_information
from .graph import batch_graph_divergence
from .variational_step import StepState, VariationalTerm

# Every term reported in the objective's terms, in this order (0 when left out); terms of
# options (the graph divergence) follow them.
TERMS = ("row_bound", "column_bound", "cell_bound", "row_contrast", "column_contrast",
         "cell_contrast", "mutual_information")


class SideBound(VariationalTerm):
    """``sum_i bound_i`` of one side, estimated from its batch.

    Parameters
    ----------
    side : {'row', 'column'}
    weight : float
    """

    def __init__(self, side, weight):
        super().__init__(weight)
        self.side = side
        self.name = f"{side}_bound"
        self.needs = frozenset({f"{side} bound"})

    def value(self, state):
        """The batch's bounds scaled to the whole side (None for an empty batch)."""
        estimates = state.side(self.side)
        if estimates is None:
            return None
        ids = state.ids(self.side)
        n_vectors = state.ctx.data.rows.n_vectors if self.side == "row" else (
            state.ctx.data.columns.n_vectors)
        return estimates.bound.sum() * (n_vectors / ids.numel())


class SideContrast(VariationalTerm):
    """``n I_NCE`` of one side (``n`` its vectors), estimated from its batch.

    Parameters
    ----------
    side : {'row', 'column'}
    weight : float
    """

    def __init__(self, side, weight):
        super().__init__(weight)
        self.side = side
        self.name = f"{side}_contrast"
        self.needs = frozenset({f"{side} contrast"})

    def value(self, state):
        """The batch's InfoNCE times the side's size (None below two vectors)."""
        estimates = state.side(self.side)
        if estimates is None or estimates.contrast is None:
            return None
        n_vectors = state.ctx.data.rows.n_vectors if self.side == "row" else (
            state.ctx.data.columns.n_vectors)
        return estimates.contrast * n_vectors


class CellBound(VariationalTerm):
    """``sum_ij bound_ij``, estimated from the step's sample of cells."""

    name = "cell_bound"
    needs = frozenset({"cell bound"})

    def value(self, state):
        """The sampled cells' weighted bounds scaled to all rows (None without cells)."""
        bound, _ = state.cells()
        if bound is None:
            return None
        return bound * (state.ctx.data.rows.n_vectors / state.row_ids.numel())


class CellContrast(VariationalTerm):
    """``nnz(A) I_NCE^cell``, estimated from the step's sample of cells."""

    name = "cell_contrast"
    needs = frozenset({"cell contrast"})

    def value(self, state):
        """The sampled cells' InfoNCE times the number of nonzeros (None below two cells)."""
        _, contrast = state.cells()
        if contrast is None:
            return None
        return contrast * state.ctx.data.n_nonzero


@dataclass
class MembershipCache:
    """Memberships at the start of the pass and the products that make ``I(p^)`` exact.

    ``row_resp`` (M, L), ``column_resp`` (P, Q), ``a_delta = |A| column_resp`` (M, Q),
    ``gamma_a = row_resp^T |A|`` (L, P), ``joint = row_resp^T |A| column_resp`` (L, Q).
    """

    row_resp: torch.Tensor
    column_resp: torch.Tensor
    a_delta: torch.Tensor
    gamma_a: torch.Tensor
    joint: torch.Tensor


def membership_cache(model, data, device):
    """Exact ``Gamma^T |A| Delta`` from the current memberships: one sparse pass.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    data : VariationalData
    device : torch.device

    Returns
    -------
    cache : MembershipCache
    """
    _, row_resp = side_memberships(model, "row", data.rows, device)
    _, column_resp = side_memberships(model, "column", data.columns, device)
    a_delta = sparse_product(data.rows, column_resp)
    gamma_a = sparse_product(data.columns, row_resp).T
    return MembershipCache(row_resp, column_resp, a_delta, gamma_a, row_resp.T @ a_delta)


def straight_through(cached, fresh, scale):
    """``fresh`` in value, ``scale`` times its gradient (the batch's share of the total)."""
    delta = fresh - cached
    return cached + delta.detach() + scale * (delta - delta.detach())


def mutual_information_term(cache, ctx, row_ids, row_batch, row_resp, column_ids,
                            column_resp):
    """``I(p^)`` on the full matrix with the fresh memberships of the batch.

    ``joint = G^T |A| D`` with G, D the cached memberships where the batch's rows and columns
    are replaced by their fresh values: four small products, no pass over A.

    Parameters
    ----------
    cache : MembershipCache
    ctx : StepContext
    row_ids : LongTensor of shape (n,)
    row_batch : SparseBatch
    row_resp : Tensor of shape (n, L)
        The batch's fresh row memberships.
    column_ids : LongTensor of shape (m,)
    column_resp : Tensor of shape (m, Q) or None
        The batch's fresh column memberships (None for an empty column batch).

    Returns
    -------
    information : Tensor (scalar)
    """
    n_rows, n_cols = ctx.data.rows.n_vectors, ctx.data.columns.n_vectors
    d_row = straight_through(cache.row_resp[row_ids], row_resp, n_rows / row_ids.numel())
    d_row = d_row - cache.row_resp[row_ids]
    joint = cache.joint + d_row.T @ cache.a_delta[row_ids]
    if column_resp is not None:
        d_col = straight_through(cache.column_resp[column_ids], column_resp,
                                 n_cols / column_ids.numel())
        d_col = d_col - cache.column_resp[column_ids]
        joint = joint + cache.gamma_a[:, column_ids] @ d_col
        position = torch.full((n_cols,), -1, dtype=torch.int64, device=ctx.device)
        position[column_ids] = torch.arange(column_ids.numel(), device=ctx.device)
        inside = position[row_batch.indices] >= 0
        weighted = d_row[row_batch.owner[inside]] * row_batch.values[inside].abs().unsqueeze(1)
        joint = joint + weighted.T @ d_col[position[row_batch.indices[inside]]]
    return mutual_information(joint)


class MutualInformationTerm(VariationalTerm):
    """``sum(|A|) I(p^)``: the mutual information of the co-cluster masses.

    The memberships of the whole matrix are taken once per pass (:meth:`begin_pass`); each
    step replaces those of its batches by fresh, differentiable ones.
    """

    name = "mutual_information"
    needs = frozenset({"row memberships", "column memberships"})

    def __init__(self, weight):
        super().__init__(weight)
        self.cache = None

    def begin_pass(self, model, ctx):
        """Take the memberships of every row and column (:func:`membership_cache`)."""
        self.cache = membership_cache(model, ctx.data, ctx.device)

    def value(self, state):
        """The step's ``sum(|A|) I(p^)`` (None for an all-zero matrix)."""
        ctx = state.ctx
        if self.cache is None or ctx.data.total_mass <= 0:
            return None
        rows, columns = state.side("row"), state.side("column")
        return ctx.data.total_mass * mutual_information_term(
            self.cache, ctx, state.row_ids, rows.batch, rows.memberships, state.column_ids,
            None if columns is None else columns.memberships)


def graph_term(model, ctx, graph, row_ids, column_ids):
    """The step's estimate of ``R_rows + R_cols`` (``batch_graph_divergence``).

    The regulariser couples each node to its neighbours, which are mostly outside the batch;
    they are encoded too (their posteriors are what the term compares), and each edge is
    counted with its source, scaled by the batch's share of its side, so that the estimate
    is unbiased like the step's other terms. The memberships are those of
    ``row_memberships_``, ``p(l | z = mu(a))``, differentiable in the encoder and the mixture.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
    graph : GraphRegulariser
    row_ids, column_ids : LongTensor
        The step's batches (an empty one adds nothing).

    Returns
    -------
    divergence : Tensor (scalar)
    """
    total = 0.0
    for side, ids in (("row", row_ids), ("column", column_ids)):
        if ids.numel() == 0:
            continue
        vae = model.side(side)
        data_side = ctx.data.rows if side == "row" else ctx.data.columns
        edges = graph.rows if side == "row" else graph.columns

        def posteriors_of(nodes, vae=vae, data_side=data_side):
            """Means, log-variances and memberships of ``nodes`` of the side."""
            mean, log_var = vae.encoder(gather(data_side, nodes))
            return mean, log_var, vae.prior.responsibilities(mean)

        total = total + batch_graph_divergence(edges, ids, data_side.n_vectors, posteriors_of)
    return total


class GraphTerm(VariationalTerm):
    """``-graph_weight (R_rows + R_cols)``: the neighbour-graph regulariser.

    Its weight is raised over the graph's warm-up epochs; the term is reported at its
    full weight (``docs/model.rst``, "The graph regulariser").

    Parameters
    ----------
    graph : GraphRegulariser
    """

    name = "graph_divergence"
    warms_up = True

    def __init__(self, graph):
        super().__init__(None)
        self.graph = graph

    def weight(self, epoch):
        """``-beta_t``: minus the graph weight at ``epoch`` of its warm-up (None: full)."""
        return -self.graph.weight_at(epoch)

    def value(self, state):
        """``R_rows + R_cols`` estimated from the step's batches (:func:`graph_term`)."""
        return graph_term(state.model, state.ctx, self.graph, state.row_ids,
                          state.column_ids)


def objective_terms(config):
    """The terms of the objective that the configuration asks for, in the order of ``J``.

    Parameters
    ----------
    config : VariationalConfig

    Returns
    -------
    terms : list of VariationalTerm
    """
    terms = []
    for side, weight in (("row", config.row_weight), ("column", config.column_weight)):
        if weight > 0:
            terms.append(SideBound(side, weight))
        if config.contrast_weight > 0:
            terms.append(SideContrast(side, config.contrast_weight))
    if config.cell_weight > 0:
        terms.append(CellBound(config.cell_weight))
    if config.cell_contrast_weight > 0:
        terms.append(CellContrast(config.cell_contrast_weight))
    if config.mi_weight > 0:
        terms.append(MutualInformationTerm(config.mi_weight))
    if config.graph is not None:
        terms.append(GraphTerm(config.graph))
    return terms


def reported_names(terms):
    """Names of the terms a pass reports: every one of :data:`TERMS`, then the others.

    Parameters
    ----------
    terms : list of VariationalTerm

    Returns
    -------
    names : tuple of str
    """
    return TERMS + tuple(term.name for term in terms if term.name not in TERMS)


def step_objective(model, ctx, terms, row_ids, column_ids):
    """The step's unbiased estimate of J.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
        ``ctx.epoch`` sets the weights of the terms that warm up.
    terms : list of VariationalTerm
    row_ids, column_ids : LongTensor
        The step's batches.

    Returns
    -------
    objective : Tensor (scalar)
        What the step maximises (each term at its current weight).
    reported : float
        The estimate of J reported (each term at its full weight).
    values : dict of str to float
        The unweighted terms of the step.
    """
    needs = frozenset().union(*(term.needs for term in terms))
    state = StepState(model, ctx, row_ids, column_ids, needs)
    values = {}
    for term in terms:
        value = term.value(state)
        if value is not None:
            values[term] = value
    state.finish()
    objective = sum(term.weight(ctx.epoch) * value for term, value in values.items())
    reported = float(objective.detach())
    for term, value in values.items():
        if term.warms_up:
            # Reported with the full weight, so that J does not fall merely because the
            # weight is being raised (which would stop training early).
            reported += (term.full_weight() - term.weight(ctx.epoch)) * float(value.detach())
    return objective, reported, {term.name: float(value.detach())
                                 for term, value in values.items()}
