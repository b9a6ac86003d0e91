"""Offsets of new rows under degree correction, fitted by maximum likelihood ("fold-in").

A training row's offset ``a_i`` is a free parameter trained with the networks. A new row
has none, so it gets the value that maximises the likelihood of its own cells given its
position and the fitted columns::

    a_i = argmax_a  sum_j log p(A_ij | alpha + a + b_j - ||X_i - Y_j||^2)

The likelihood solves it (``Likelihood.row_offsets``: Newton's method, or the Gaussian's
closed form). Totals are clipped as the training start clips means
(``Likelihood.clip_totals``), so an empty row gets a large negative, finite offset instead
of minus infinity.

Why not the training start's formula (the offset of the row's mean): the trained offsets
move away from their starting values, and a new row scored with the starting formula is
scored under a different model than the training rows were, which biased the held-out
``score`` against degree-corrected fits.
"""

import numpy as np
import torch

CHUNK_CELLS = 2 ** 22


@torch.no_grad()
def fold_in_row_offsets(decoder, likelihood, row_mean, column_mean, csr):
    """Maximum-likelihood offsets of new rows.

    Parameters
    ----------
    decoder : LatentPositionDecoder
        A fitted, degree-corrected decoder (its ``alpha`` and column offsets are used).
    likelihood : Bernoulli, Poisson or Gaussian
    row_mean : Tensor of shape (M, D)
        Positions of the new rows (their posterior means).
    column_mean : Tensor of shape (P, D)
        Positions of the fitted columns.
    csr : csr_matrix of shape (M, P)
        The new rows' cells.

    Returns
    -------
    offsets : Tensor of shape (M,)
    """
    n_rows, n_cols = csr.shape
    totals = np.asarray(csr.sum(axis=1), dtype=np.float64).ravel()
    totals = torch.as_tensor(likelihood.clip_totals(totals, n_cols), dtype=row_mean.dtype)
    column_part = decoder.alpha.detach() + decoder.column_offset.detach()
    offsets = torch.empty(n_rows, dtype=row_mean.dtype)
    rows_per_chunk = max(1, CHUNK_CELLS // max(n_cols, 1))
    for start in range(0, n_rows, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_rows)
        block = row_mean[start:stop]
        sq_dist = (block.pow(2).sum(1, keepdim=True) + column_mean.pow(2).sum(1)
                   - 2.0 * block @ column_mean.T).clamp(min=0)
        base = column_part - sq_dist
        offsets[start:stop] = likelihood.row_offsets(totals[start:stop], base)
    return offsets
