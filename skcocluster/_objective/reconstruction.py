"""The reconstruction term of the deep latent block model's ELBO (docs/model.rst, "ELBO").

``ELBO = E_q[log p(A | X, Y)] + prior_terms(rows) + prior_terms(columns)``, where the first
term is estimated with one reparameterised draw of the positions and computed as
``sum over nonzeros of A_ij eta_ij + sum over all cells of f(eta_ij)`` (Bernoulli:
``f = -softplus``).

The likelihood (Bernoulli, Poisson or Gaussian, see ``_likelihoods.py``) only changes
the per-cell function of the all-cells sum and the scale of the nonzero sum.

The all-cells sum is either exact (row chunks, so no M x P matrix is ever held with its
autograd graph) or estimated without bias from uniformly sampled cells.
"""

import torch

from .._nn.encoders import propagate
from .terms import ObjectiveTerm

# Cells per chunk of the sampled all-cells sum: its temporaries (the gathered differences,
# D floats a cell) stay a few MiB however many cells are drawn.
SAMPLED_CHUNK_CELLS = 2 ** 18


def sample_positions(mean, log_var, generator):
    """One reparameterised draw ``mean + sigma * eps`` of isotropic Gaussian positions."""
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + (0.5 * log_var).exp()[:, None] * eps


class ReconstructionTerm(ObjectiveTerm):
    """``E_q[log p(A | X, Y)]`` from one reparameterised draw of both sides' positions.

    Parameters
    ----------
    model : DeepLatentBlockModel
        Its decoder and likelihood; ``model.decoder_positions`` applies the facets' fade-in.
    cells : CellData
    n_sampled_cells : int or None
        None: the exact all-cells sum; an int: its estimate from that many cells.
    generator : torch.Generator
        Draws the positions (and the sampled cells).
    """

    name = "reconstruction"

    def __init__(self, model, cells, n_sampled_cells, generator):
        self.model = model
        self.cells = cells
        self.n_sampled_cells = n_sampled_cells
        self.generator = generator

    def value(self, state):
        """The one-draw estimate at ``state.posteriors`` (a differentiable scalar).

        Parameters
        ----------
        state : EpochState

        Returns
        -------
        value : Tensor (scalar)
        """
        row_mean, row_log_var, column_mean, column_log_var = state.posteriors
        row_positions = sample_positions(row_mean, row_log_var, self.generator)
        column_positions = sample_positions(column_mean, column_log_var, self.generator)
        row_positions, column_positions = self.model.decoder_positions(row_positions,
                                                                       column_positions)
        return reconstruction_term(self.model.decoder, self.model.likelihood, row_positions,
                                   column_positions, self.cells,
                                   n_sampled_cells=self.n_sampled_cells,
                                   generator=self.generator)


def reconstruction_term(decoder, likelihood, row_positions, column_positions, cells, *,
                        n_sampled_cells=None, chunk_cells=2 ** 22, generator=None):
    """Log-likelihood of the data given positions, differentiable.

    Parameters
    ----------
    decoder : LatentPositionDecoder
    likelihood : Bernoulli, Poisson or Gaussian
    row_positions : Tensor of shape (M, D)
    column_positions : Tensor of shape (P, D)
    cells : CellData
    n_sampled_cells : int or None
        None computes the all-cells sum exactly; an int estimates it from that many
        uniformly drawn cells, reweighted by ``M P / n_sampled_cells`` (unbiased).
    chunk_cells : int
        Cells per chunk of the exact computation.
    generator : torch.Generator, optional
        Draws the sampled cells.

    Returns
    -------
    value : Tensor (scalar)
        Its gradient with respect to the positions and decoder parameters is that of the
        log-likelihood (or of its unbiased estimate).
    """
    need_grads = torch.is_grad_enabled()
    row_positions_data = row_positions.detach()
    column_positions_data = column_positions.detach()
    value, grads = _nonzero_term(decoder, row_positions_data, column_positions_data, cells,
                                 likelihood.nonzero_scale)
    if n_sampled_cells is None:
        all_value, all_grads = _exact_all_cells(decoder, likelihood, row_positions_data,
                                                column_positions_data, chunk_cells, need_grads)
    else:
        all_value, all_grads = _sampled_all_cells(decoder, likelihood, row_positions_data,
                                                  column_positions_data, n_sampled_cells,
                                                  generator, need_grads)
    value = value + all_value + likelihood.constant(cells)
    if not need_grads:
        return value
    grads = {name: grad + all_grads[name] if name in all_grads else grad
             for name, grad in grads.items()}
    inputs = {"rows": row_positions, "cols": column_positions, "alpha": decoder.alpha,
              "row_offset": decoder.row_offset, "column_offset": decoder.column_offset}
    return _inject(value, inputs, grads)


def _nonzero_term(decoder, row_positions, column_positions, cells, scale):
    """``scale * sum_ij A_ij eta_ij`` and its gradients, without touching the zero cells.

    With ``||X_i - Y_j||^2 = |X_i|^2 + |Y_j|^2 - 2 X_i . Y_j`` the sum needs only the row
    and column sums of A and one product ``A Y`` (a sparse matmul for sparse A)::

        alpha sum(A) + sum_i r_i a_i + sum_j c_j b_j
        - sum_i r_i |X_i|^2 - sum_j c_j |Y_j|^2 + 2 sum_i X_i . (A Y)_i
    """
    with torch.no_grad():
        a_y = propagate(cells.matrix, column_positions)
        at_x = propagate(cells.matrix_t, row_positions)
        row_sq = row_positions.pow(2).sum(1)
        column_sq = column_positions.pow(2).sum(1)
        value = (decoder.alpha * cells.total
                 - (cells.row_sums * row_sq).sum() - (cells.column_sums * column_sq).sum()
                 + 2.0 * (row_positions * a_y).sum())
        grads = {"rows": 2.0 * (a_y - cells.row_sums[:, None] * row_positions),
                 "cols": 2.0 * (at_x - cells.column_sums[:, None] * column_positions),
                 "alpha": torch.tensor(cells.total, device=row_positions.device)}
        if decoder.degree_corrected:
            value = value + (cells.row_sums * decoder.row_offset).sum() + (
                cells.column_sums * decoder.column_offset).sum()
            grads["row_offset"] = cells.row_sums
            grads["column_offset"] = cells.column_sums
    return value * scale, {name: grad * scale for name, grad in grads.items()}


def _exact_all_cells(decoder, likelihood, row_positions, column_positions, chunk_cells,
                     need_grads):
    """Exact ``sum_ij f(eta_ij)`` and its gradients, in row chunks.

    The gradient is written out rather than taken by autograd: with ``s = -f'(eta)``
    (Bernoulli: ``sigmoid(eta)``), d/dX_i = 2 (sum_j s_ij X_i - sum_j s_ij Y_j) and likewise
    for Y_j; this needs one M x P temporary per chunk instead of autograd's several.
    """
    n_rows, n_cols = row_positions.shape[0], column_positions.shape[0]
    rows_per_chunk = max(1, chunk_cells // max(n_cols, 1))
    device = row_positions.device
    total = torch.zeros((), device=device)
    row_mass = torch.zeros(n_rows, device=device)
    column_mass = torch.zeros(n_cols, device=device)
    grad_rows = torch.zeros_like(row_positions)
    grad_cols = torch.zeros_like(column_positions)
    with torch.no_grad():
        for start in range(0, n_rows, rows_per_chunk):
            stop = min(start + rows_per_chunk, n_rows)
            chunk_positions = row_positions[start:stop]
            logits = decoder.block_logits(chunk_positions, column_positions,
                                          row_index=torch.arange(start, stop, device=device))
            total += likelihood.all_cells(logits).sum()
            if not need_grads:
                continue
            link = -likelihood.all_cells_grad(logits)
            row_mass[start:stop] = link.sum(1)
            column_mass += link.sum(0)
            grad_rows[start:stop] = 2.0 * (row_mass[start:stop, None] * chunk_positions
                                           - link @ column_positions)
            grad_cols -= 2.0 * (link.T @ chunk_positions)
    if not need_grads:
        return total, None
    grad_cols += 2.0 * column_mass[:, None] * column_positions
    grads = {"rows": grad_rows, "cols": grad_cols, "alpha": -row_mass.sum(),
             "row_offset": -row_mass, "column_offset": -column_mass}
    return total, grads


def _sampled_all_cells(decoder, likelihood, row_positions, column_positions, n_sampled_cells,
                       generator, need_grads, chunk_cells=SAMPLED_CHUNK_CELLS):
    """Unbiased estimate of the all-cells sum from uniformly drawn cells, and its gradients.

    With at least as many cells as rows, every row gets the same number of cells, in
    uniformly drawn columns (a sample stratified by row: lower variance, and the row side
    needs neither a gather nor a scatter); with fewer, the cells are drawn uniformly. As
    for the exact sum, the gradient is written out (``index_add`` over the drawn cells),
    which is several times faster than autograd's backward of the gathers. The cells are
    drawn at once but visited in chunks of about ``chunk_cells`` (:func:`_sampled_chunks`),
    so the per-cell temporaries stay a few MiB whatever the sample's size.
    """
    n_rows, n_cols = row_positions.shape[0], column_positions.shape[0]
    device = row_positions.device
    per_row = n_sampled_cells // n_rows
    if per_row >= 1:
        rows = torch.arange(n_rows, device=device)[:, None]
        cols = torch.randint(n_cols, (n_rows, per_row), generator=generator, device=device)
        weight = n_cols / per_row
    else:
        rows = torch.randint(n_rows, (n_sampled_cells,), generator=generator, device=device)
        cols = torch.randint(n_cols, (n_sampled_cells,), generator=generator, device=device)
        weight = (n_rows * n_cols) / n_sampled_cells
    value = torch.zeros((), device=device)
    grads = None if not need_grads else {
        "rows": torch.zeros_like(row_positions), "cols": torch.zeros_like(column_positions),
        "alpha": torch.zeros((), device=device),
        "row_offset": torch.zeros(n_rows, device=device),
        "column_offset": torch.zeros(n_cols, device=device)}
    with torch.no_grad():
        for part, chunk_rows, chunk_cols in _sampled_chunks(rows, cols, per_row >= 1,
                                                                 chunk_cells):
            # The differences are gathered once and serve both the logits and the
            # gradient: at a few million cells the gathers cost more than the arithmetic.
            row_part = (row_positions[part, None, :] if per_row >= 1
                        else row_positions[chunk_rows])
            diff = row_part - column_positions[chunk_cols]
            logits = decoder.logits_from_differences(diff, chunk_rows, chunk_cols)
            value += weight * likelihood.all_cells(logits).sum()
            if need_grads:
                _add_sampled_grads(grads, diff, weight * likelihood.all_cells_grad(logits),
                                   part if per_row >= 1 else chunk_rows, chunk_cols)
    return value, grads


def _sampled_chunks(rows, cols, stratified, chunk_cells=SAMPLED_CHUNK_CELLS):
    """The drawn cells in chunks: ``(part, rows, cols)`` of about ``chunk_cells`` cells each.

    Stratified (``cols`` of shape (M, per_row)): ``part`` is a slice of rows and ``rows``
    the matching (n, 1) indices; uniform: ``part`` is a slice of the cells.
    """
    per_row = cols.shape[1] if stratified else 1
    step = max(1, chunk_cells // per_row)
    for start in range(0, cols.shape[0], step):
        part = slice(start, min(start + step, cols.shape[0]))
        yield part, rows[part], cols[part]


def _add_sampled_grads(grads, diff, slope, row_part, cols):
    """Add one chunk's gradients of the sampled sum (``slope``: d value / d logit, per cell).

    ``row_part`` is a slice of rows (stratified cells, ``slope`` of shape (n, per_row)) or
    the cells' row indices (uniform cells). The sums over cells are ``index_add`` into
    the whole gradients, in the order of the cells.
    """
    flat_cols = cols.reshape(-1)
    # d logit / d X_i = -2 (X_i - Y_j) and d logit / d Y_j = +2 (X_i - Y_j)
    pull = diff.mul_((2.0 * slope)[..., None])
    grads["cols"].index_add_(0, flat_cols, pull.reshape(flat_cols.shape[0], -1))
    grads["column_offset"].index_add_(0, flat_cols, slope.reshape(-1))
    grads["alpha"] += slope.sum()
    if isinstance(row_part, slice):
        grads["rows"][row_part] = -pull.sum(1)
        grads["row_offset"][row_part] = slope.sum(1)
    else:
        grads["rows"].index_add_(0, row_part, pull, alpha=-1.0)
        grads["row_offset"].index_add_(0, row_part, slope)


def _inject(value, inputs, grads):
    """A scalar equal to ``value`` whose gradient w.r.t. each input is the given gradient.

    ``sum(input * grad) - sum(input * grad).detach()`` is zero in value and carries
    ``grad``; inputs that are None (no degree correction) are skipped.
    """
    surrogate = value
    for name, tensor in inputs.items():
        if tensor is None or grads.get(name) is None:
            continue
        link = (tensor * grads[name]).sum()
        surrogate = surrogate + link - link.detach()
    return surrogate


@torch.no_grad()
def gaussian_noise_variance(decoder, row_positions, column_positions, cells,
                            chunk_cells=2 ** 22):
    """Closed-form noise variance ``mean_ij (A_ij - eta_ij)^2`` of the Gaussian likelihood.

    ``sum (A - eta)^2 = sum A^2 - 2 sum_nz A eta + sum_all eta^2``, so the zero cells are
    only visited through the data-free ``eta^2`` sum (in chunks).
    """
    cross, _ = _nonzero_term(decoder, row_positions, column_positions, cells, 1.0)
    n_cols = column_positions.shape[0]
    rows_per_chunk = max(1, chunk_cells // max(n_cols, 1))
    squares = torch.zeros((), device=row_positions.device)
    for start in range(0, row_positions.shape[0], rows_per_chunk):
        stop = min(start + rows_per_chunk, row_positions.shape[0])
        index = torch.arange(start, stop, device=row_positions.device)
        squares += decoder.block_logits(row_positions[start:stop], column_positions,
                                        row_index=index).pow(2).sum()
    residual = cells.squared_total - 2.0 * float(cross) + float(squares)
    return max(residual / cells.n_cells, 1e-6)
