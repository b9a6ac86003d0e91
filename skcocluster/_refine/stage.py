"""The refinement stage: from an estimator's own partition to the reported one.

The plain and the degree-corrected block models refine the estimator's partition (and a
starting partition) by EM, and the candidate that fills every cluster and best predicts
held-out cells is kept (:mod:`~skcocluster._refine.selection`; ``docs/model.rst``, "The
final partition"). The stage returns a :class:`FittedPartition`, which also assigns new
rows and columns under the model that produced the kept partition.
"""

from dataclasses import dataclass

from .block_em import degree_corrected_parameters
from .partition import FittedPartition
from .selection import DEGREE_CORRECTED_MODEL, candidates, select
from .sharding import WHOLE


@dataclass(frozen=True)
class RefinementStage:
    """Choose the reported partition among an estimator's own and its refinements.

    The two estimators differ only in how their own partition competes, which each
    states once, as a class attribute holding its stage.

    Parameters
    ----------
    own_name : str
        Name of the estimator's own partition in ``refined_from_`` (and in the names of
        its refinements).
    keep_own_if_inadequate : bool
        Whether the own partition is kept where the block model is not adequate to the
        matrix (:func:`~skcocluster._refine.selection.select`); False keeps the best
        candidate whatever the adequacy.
    """

    own_name: str
    keep_own_if_inadequate: bool

    def fit(self, csr, own, start, likelihood, sharding=WHOLE):
        """The kept partition among ``own``, its refinements and those of ``start``.

        Parameters
        ----------
        csr : csr_matrix of shape (M, P)
        own : tuple of ndarray
            The estimator's row (M, L) and column (P, Q) memberships.
        start : tuple of ndarray or None
            A starting partition to refine too (and keep as is, as a candidate).
        likelihood : str
            The resolved likelihood.
        sharding : Sharding, optional
            Where the sums run: on a row shard (:meth:`Sharding.of_rows`), ``csr`` and the
            row memberships are this process's rows, the column memberships every column's.

        Returns
        -------
        partition : FittedPartition
        """
        pool = candidates(csr, likelihood, own, start, own_name=self.own_name,
                          sharding=sharding)
        chosen = select(csr, likelihood, pool, self.keep_own_if_inadequate, sharding)
        row_model, column_model = chosen.side_model("row"), chosen.side_model("column")
        degree_model = None
        if DEGREE_CORRECTED_MODEL in (row_model, column_model):
            degree_model = degree_corrected_parameters(csr, chosen.row_resp,
                                                       chosen.column_resp, sharding)
        return FittedPartition(chosen.row_resp, chosen.column_resp, chosen.name, row_model,
                               column_model, likelihood, chosen.noise_var, degree_model)
