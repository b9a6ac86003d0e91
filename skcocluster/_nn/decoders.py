"""Latent-position decoder (docs/model.rst, "Generative model").

``eta_ij = alpha + a_i + b_j - ||X_i - Y_j||^2``, with the row and column offsets
``a_i, b_j`` present only under degree correction. ``eta`` is the logit (Bernoulli), the
log-rate (Poisson) or the mean (Gaussian) of the cell: see ``_likelihoods.py``.
"""

import torch
from torch import nn


class LatentPositionDecoder(nn.Module):
    """Cell logits from row and column latent positions.

    Parameters
    ----------
    alpha_init : float
        Initial intercept; the logit of the matrix density is a good start.
    row_offset_init, column_offset_init : Tensor or None
        Initial per-row (per-column) offsets; None disables degree correction.
    """

    def __init__(self, alpha_init, row_offset_init=None, column_offset_init=None):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))
        self.row_offset = None if row_offset_init is None else nn.Parameter(row_offset_init)
        self.column_offset = (
            None if column_offset_init is None else nn.Parameter(column_offset_init))

    @property
    def degree_corrected(self):
        """Whether the decoder has per-row and per-column offsets."""
        return self.row_offset is not None

    def block_logits(self, row_positions, column_positions, row_index=None, column_index=None):
        """Logits of the block of cells ``row_index x column_index``.

        Parameters
        ----------
        row_positions : Tensor of shape (n_block_rows, D)
        column_positions : Tensor of shape (n_block_cols, D)
        row_index, column_index : LongTensor or None
            Which training rows (columns) the positions belong to, for the offsets.

        Returns
        -------
        logits : Tensor of shape (n_block_rows, n_block_cols)
        """
        sq_dist = (row_positions.pow(2).sum(1, keepdim=True)
                   + column_positions.pow(2).sum(1)
                   - 2.0 * row_positions @ column_positions.T)
        logits = self.alpha - sq_dist.clamp(min=0)
        if self.degree_corrected:
            logits = logits + self._offsets(self.row_offset, row_index)[:, None]
            logits = logits + self._offsets(self.column_offset, column_index)[None, :]
        return logits

    def logits_from_differences(self, diff, rows, cols):
        """Logits of cells ``(rows[k], cols[k])`` given ``diff[k] = X_rows[k] - Y_cols[k]``.

        Parameters
        ----------
        diff : Tensor of shape cells_shape + (D,)
        rows, cols : LongTensor broadcastable to cells_shape
            The cells' rows and columns (for the offsets).

        Returns
        -------
        logits : Tensor of shape cells_shape
        """
        logits = self.alpha - diff.pow(2).sum(-1)
        if self.degree_corrected:
            logits = logits + self.row_offset[rows] + self.column_offset[cols]
        return logits

    @staticmethod
    def _offsets(offsets, index):
        """The offsets of the nodes ``index`` (all of them when None)."""
        return offsets if index is None else offsets[index]
