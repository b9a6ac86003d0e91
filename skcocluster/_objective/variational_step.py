"""What one step of VariationalCoclustering draws, shared by the terms of its objective.

A step reads a batch of rows and a batch of columns. Its terms (``_objective/variational.py``)
read the same draws: one sample of the row latents serves the row bound, the row InfoNCE
and the cells' context. :class:`StepState` makes each draw once, when a term first asks
for it, and always in the order rows, columns, cells, so that the random draws and the
order of the computations do not depend on which terms the objective holds
(``docs/model.rst``, "The variational model").
"""

from dataclasses import dataclass

import torch

from .._data.variational import draw_cells, gather, sampled_items
from .terms import ObjectiveTerm

# Cells of a batch that enter the cell-level InfoNCE (its cost is quadratic in this).
MAX_CONTRAST_CELLS = 256


@dataclass
class StepContext:
    """What a step needs besides its batches (fixed over an epoch).

    Attributes
    ----------
    data : VariationalData
    config : VariationalConfig
    likelihood : Likelihood
    generator : torch.Generator
        Every draw of the training.
    device : torch.device
    epoch : int or None
        Epoch of joint training (sets warm-up weights); None: full weights.
    """

    data: object
    config: object
    likelihood: object
    generator: torch.Generator
    device: torch.device
    epoch: object = None


class VariationalTerm(ObjectiveTerm):
    """A term of the variational objective: a constant weight unless overridden.

    Besides :class:`ObjectiveTerm`'s protocol, a term names the draws of the step it reads
    (:attr:`needs`, for :class:`StepState`), may prepare itself at the start of each pass
    over the data (:meth:`begin_pass`), and its :meth:`value` is None when the step has
    no estimate of it (an empty batch).

    Parameters
    ----------
    weight : float
        The term's weight in the objective.
    """

    #: Draws of the step the term reads: "<side> bound", "<side> contrast",
    #: "<side> memberships" (side 'row' or 'column'), "cell bound", "cell contrast".
    needs = frozenset()
    #: Whether :meth:`weight` changes over the epochs (then the term is reported at its
    #: full weight).
    warms_up = False

    def __init__(self, weight):
        self.constant_weight = weight

    def weight(self, epoch):
        """The term's weight (the same at every epoch).

        Parameters
        ----------
        epoch : int or None

        Returns
        -------
        weight : float
        """
        return self.constant_weight

    def begin_pass(self, model, ctx):
        """Prepare for a pass over all rows and columns (nothing by default).

        Parameters
        ----------
        model : VariationalCoclusteringModule
        ctx : StepContext
        """


@dataclass
class SideEstimates:
    """One side's draws of a step.

    Attributes
    ----------
    bound : Tensor of shape (n,) or None
        Per-vector importance-weighted bound (when a term needs it).
    contrast : Tensor (scalar) or None
        The batch's InfoNCE (when a term needs it and the batch has two vectors or more).
    z : Tensor of shape (n, D)
        One differentiable sample of the latents.
    batch : SparseBatch
    memberships : Tensor of shape (n, K) or None
        ``p(l | z = mu(a))`` (when a term needs it).
    """

    bound: object
    contrast: object
    z: torch.Tensor
    batch: object
    memberships: object


def side_estimates(model, side, ids, ctx, needs):
    """Draw one side's latents for a batch and compute what ``needs`` asks for.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    side : {'row', 'column'}
    ids : LongTensor of shape (n,)
    ctx : StepContext
    needs : set of str
        See :attr:`VariationalTerm.needs`.

    Returns
    -------
    estimates : SideEstimates
    """
    vae = model.side(side)
    data_side = ctx.data.rows if side == "row" else ctx.data.columns
    batch = gather(data_side, ids)
    config = ctx.config
    if f"{side} bound" in needs:
        items = sampled_items(data_side, config.n_sampled_items, batch, ctx.generator,
                              ctx.device)
        bound, z = vae.bound(batch, ctx.likelihood, items, config.n_samples, config.gradient,
                             ctx.generator)
        mean = None
        z = z[0]
    else:
        bound = None
        mean, log_var = vae.encoder(batch)
        eps = torch.randn(mean.shape, generator=ctx.generator, device=ctx.device)
        z = mean + (0.5 * log_var).exp() * eps
    contrast = None
    if f"{side} contrast" in needs and ids.numel() > 1:
        contrast = vae.contrast(batch, z, config.temperature)
    memberships = None
    if f"{side} memberships" in needs:
        if mean is None:
            mean, _ = vae.encoder(batch)
        memberships = vae.prior.responsibilities(mean)
    return SideEstimates(bound, contrast, z, batch, memberships)


def cell_estimates(model, ctx, row_ids, row_batch, z_rows, with_bound, with_contrast,
                   fixed_sides=False):
    """Weighted sum of the per-cell bounds and the cell-level InfoNCE of a row batch.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
    row_ids : LongTensor of shape (n,)
    row_batch : SparseBatch
    z_rows : Tensor of shape (n, D)
        One sample of the rows' latents.
    with_bound, with_contrast : bool
        Which of the two to compute.
    fixed_sides : bool, default=False
        Draw the column latents without gradient (``z_rows`` should then be detached
        too): only the cell model learns (its warm-up).

    Returns
    -------
    bound, contrast : Tensor (scalar) or None
        None where not asked for, or when the step drew no cell (no contrast either for a
        single cell).
    """
    config = ctx.config
    local, cols, values, weights = draw_cells(ctx, row_ids, row_batch)
    if local.numel() == 0:
        return None, None
    unique_cols, inverse = torch.unique(cols, return_inverse=True)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not fixed_sides):
        mean, log_var = model.columns.encoder(gather(ctx.data.columns, unique_cols))
    eps = torch.randn(mean.shape, generator=ctx.generator, device=ctx.device)
    z_cols = (mean + (0.5 * log_var).exp() * eps)[inverse]
    zr = z_rows[local]
    bound = contrast = None
    w = None
    if with_bound:
        per_cell, w = model.cells.bound(zr, z_cols, values, ctx.likelihood, config.n_samples,
                                        config.gradient, ctx.generator)
        bound = (per_cell * weights).sum()
        w = w[0]
    if with_contrast and local.numel() > 1:
        if w is None:
            w_mean, w_log_var = model.cells.encode(zr, z_cols)
            eps = torch.randn(w_mean.shape, generator=ctx.generator, device=ctx.device)
            w = w_mean + (0.5 * w_log_var).exp() * eps
        pick = torch.randperm(local.numel(), generator=ctx.generator, device=ctx.device)[
            :MAX_CONTRAST_CELLS]
        contrast = model.cells.contrast(zr[pick], z_cols[pick], values[pick], w[pick],
                                        config.temperature)
    return bound, contrast


class StepState:
    """The draws of one step, each made once, when a term first reads it.

    The draws are always made in the order rows, columns, cells: asking for the columns
    draws the rows first, asking for the cells draws both sides first, and :meth:`finish`
    draws the sides no term read. So a step draws the same random numbers, and builds its
    computations in the same order, whichever terms read it.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
    row_ids, column_ids : LongTensor
        The step's batches (``column_ids`` may be empty).
    needs : set of str
        What the step's terms read (:attr:`VariationalTerm.needs`).
    """

    def __init__(self, model, ctx, row_ids, column_ids, needs):
        self.model, self.ctx = model, ctx
        self.row_ids, self.column_ids = row_ids, column_ids
        self.needs = needs
        self._sides = {}
        self._cells = None

    def ids(self, side):
        """The step's batch of 'row' or 'column'."""
        return self.row_ids if side == "row" else self.column_ids

    def side(self, side):
        """The :class:`SideEstimates` of 'row' or 'column' (None for an empty batch)."""
        if side == "column":
            self.side("row")
        if side not in self._sides:
            ids = self.ids(side)
            self._sides[side] = (side_estimates(self.model, side, ids, self.ctx, self.needs)
                                 if ids.numel() else None)
        return self._sides[side]

    def cells(self):
        """The cells' ``(bound, contrast)`` (:func:`cell_estimates`), either may be None."""
        self.side("column")
        if self._cells is None:
            rows = self.side("row")
            self._cells = cell_estimates(self.model, self.ctx, self.row_ids, rows.batch,
                                         rows.z, "cell bound" in self.needs,
                                         "cell contrast" in self.needs)
        return self._cells

    def finish(self):
        """Make the side draws no term asked for (the next step's draws follow them)."""
        self.side("column")
