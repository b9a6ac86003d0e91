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

    With at least as many cells as rows, every row gets the same number of cells
    (:func:`_windowed_cells`: a sample stratified by row and by column); with fewer, the
    cells are drawn uniformly. As for the exact sum, the gradient is written out rather
    than left to autograd's backward of the gathers. The cells are visited in chunks of
    about ``chunk_cells``, so the per-cell temporaries stay a few MiB whatever the
    sample's size.
    """
    n_rows = row_positions.shape[0]
    if n_sampled_cells // n_rows >= 1:
        return _windowed_cells(decoder, likelihood, row_positions, column_positions,
                               n_sampled_cells // n_rows, generator, need_grads, chunk_cells)
    return _uniform_cells(decoder, likelihood, row_positions, column_positions,
                          n_sampled_cells, generator, need_grads, chunk_cells)


def _zero_grads(row_positions, column_positions, need_grads):
    """Zero gradients of every input of the all-cells sum (None without ``need_grads``)."""
    if not need_grads:
        return None
    device = row_positions.device
    return {"rows": torch.zeros_like(row_positions),
            "cols": torch.zeros_like(column_positions),
            "alpha": torch.zeros((), device=device),
            "row_offset": torch.zeros(row_positions.shape[0], device=device),
            "column_offset": torch.zeros(column_positions.shape[0], device=device)}


def _windowed_cells(decoder, likelihood, row_positions, column_positions, per_row, generator,
                    need_grads, chunk_cells):
    """The sampled sum over ``per_row`` cells of every row, in windows of a column permutation.

    The columns are shuffled once per draw, and row ``i`` takes the ``per_row`` shuffled
    columns from position ``i * per_row`` on, cyclically. Every cell is drawn
    ``per_row / P`` times on average (the shuffle places any column at any position
    with the same probability), so the weighted sum is unbiased; every column is drawn
    the same number of times, to one (lower variance than independent draws). Above
    all, the rows' cells are contiguous runs of the shuffled columns: gathering the
    columns' positions and summing their gradients are slices and a reshape, not a
    gather and a scatter-add per cell, which cost most of the sum on a CPU and get
    slower, not faster, with more threads.
    """
    n_rows, n_cols = row_positions.shape[0], column_positions.shape[0]
    order = torch.randperm(n_cols, generator=generator, device=row_positions.device)
    shuffled = column_positions[order]
    weight = n_cols / per_row
    value = torch.zeros((), device=row_positions.device)
    grads = _zero_grads(row_positions, column_positions, need_grads)
    if need_grads:
        shuffled_grad = torch.zeros_like(shuffled)
        shuffled_slope = torch.zeros(n_cols, device=row_positions.device)
    step = max(1, chunk_cells // per_row)
    with torch.no_grad():
        for first in range(0, n_rows, step):
            part = slice(first, min(first + step, n_rows))
            n_part = part.stop - part.start
            offset = (part.start * per_row) % n_cols
            cols = _cyclic_slice(order, offset, n_part * per_row).view(n_part, per_row)
            # The differences serve both the logits and the gradient.
            diff = (row_positions[part, None, :]
                    - _cyclic_slice(shuffled, offset, n_part * per_row).view(n_part, per_row, -1))
            rows = torch.arange(part.start, part.stop, device=row_positions.device)[:, None]
            logits = decoder.logits_from_differences(diff, rows, cols)
            value += weight * likelihood.all_cells(logits).sum()
            if not need_grads:
                continue
            slope = weight * likelihood.all_cells_grad(logits)
            # d logit / d X_i = -2 (X_i - Y_j) and d logit / d Y_j = +2 (X_i - Y_j)
            pull = diff.mul_((2.0 * slope)[..., None])
            _cyclic_add(shuffled_grad, pull.reshape(n_part * per_row, -1), offset)
            _cyclic_add(shuffled_slope, slope.reshape(-1), offset)
            grads["rows"][part] = -pull.sum(1)
            grads["row_offset"][part] = slope.sum(1)
            grads["alpha"] += slope.sum()
    if need_grads:
        grads["cols"][order] = shuffled_grad
        grads["column_offset"][order] = shuffled_slope
    return value, grads


def _cyclic_slice(values, start, length):
    """``values[start:start + length]`` read cyclically (index modulo ``len(values)``)."""
    size = values.shape[0]
    if start + length <= size:
        return values[start:start + length]
    head = values[start:]
    n_full, tail = divmod(length - head.shape[0], size)
    pieces = [head]
    if n_full:
        pieces.append(values.repeat((n_full,) + (1,) * (values.dim() - 1)))
    pieces.append(values[:tail])
    return torch.cat(pieces)


def _cyclic_add(target, values, start):
    """Add ``values`` into ``target[start:start + len(values)]``, cyclically."""
    size = target.shape[0]
    head = min(values.shape[0], size - start)
    target[start:start + head] += values[:head]
    rest = values[head:]
    n_full = rest.shape[0] // size
    if n_full:
        target += rest[:n_full * size].reshape((n_full, size) + rest.shape[1:]).sum(0)
    tail = rest[n_full * size:]
    target[:tail.shape[0]] += tail


def _uniform_cells(decoder, likelihood, row_positions, column_positions, n_sampled_cells,
                   generator, need_grads, chunk_cells):
    """The sampled sum over ``n_sampled_cells`` cells drawn uniformly (fewer than the rows).

    The gradients are ``index_add`` over the drawn cells, in the order of the cells.
    """
    n_rows, n_cols = row_positions.shape[0], column_positions.shape[0]
    device = row_positions.device
    rows = torch.randint(n_rows, (n_sampled_cells,), generator=generator, device=device)
    cols = torch.randint(n_cols, (n_sampled_cells,), generator=generator, device=device)
    weight = (n_rows * n_cols) / n_sampled_cells
    value = torch.zeros((), device=device)
    grads = _zero_grads(row_positions, column_positions, need_grads)
    with torch.no_grad():
        for first in range(0, n_sampled_cells, chunk_cells):
            part = slice(first, min(first + chunk_cells, n_sampled_cells))
            chunk_rows, chunk_cols = rows[part], cols[part]
            diff = row_positions[chunk_rows] - column_positions[chunk_cols]
            logits = decoder.logits_from_differences(diff, chunk_rows, chunk_cols)
            value += weight * likelihood.all_cells(logits).sum()
            if not need_grads:
                continue
            slope = weight * likelihood.all_cells_grad(logits)
            pull = diff.mul_((2.0 * slope)[..., None])
            grads["cols"].index_add_(0, chunk_cols, pull)
            grads["column_offset"].index_add_(0, chunk_cols, slope)
            grads["rows"].index_add_(0, chunk_rows, pull, alpha=-1.0)
            grads["row_offset"].index_add_(0, chunk_rows, slope)
            grads["alpha"] += slope.sum()
    return value, grads


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
