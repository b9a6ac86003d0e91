"""Block-model refinement of a fitted partition, shared by both estimators.

After its own training, an estimator may hand its row and column memberships to
``_selection.py``: the plain and the degree-corrected block models refine them by EM, and
the candidate that fills every cluster and best predicts held-out cells is kept
(``docs/model.rst``). New rows and columns must then be assigned under the model that
produced the kept partition, which this mixin also serves.
"""

import numpy as np

from .._likelihoods import make_likelihood
from .block_em import (degree_corrected_memberships, degree_corrected_parameters,
                       side_memberships)
from .selection import candidates, select

# Model of new rows or columns (``_membership_models``) where the estimator's own model
# produced that side of the partition.
OWN_MODEL = "deep"
# Floor of a cluster's proportion when assigning new nodes (an empty cluster stays possible).
MIN_PROPORTION = 1e-12


class BlockRefinementMixin:
    """Choose among block-model refinements; assign new nodes under the kept model.

    The estimator calls :meth:`_keep_own_model` when it stores its fit, and uses
    :meth:`_block_model_memberships` before its own encoders for new nodes.
    """

    def _keep_own_model(self):
        """Mark the estimator's own model as the one that assigns new rows and columns."""
        self._membership_models = {"row": OWN_MODEL, "column": OWN_MODEL}
        self._block_noise_var = 1.0

    def _refine_partition(self, csr, own, start=None, own_name="deep", own_if_inadequate=True):
        """The kept partition among ``own``, its refinements and those of ``start``.

        Parameters
        ----------
        csr : csr_matrix of shape (M, P)
        own : tuple of ndarray
            The estimator's row (M, L) and column (P, Q) memberships.
        start : tuple of ndarray, optional
            A starting partition to refine too (and keep as is, as a candidate).
        own_name : str
            Name of the estimator's own partition in ``refined_from_``.
        own_if_inadequate : bool, default=True
            Keep the own partition where the block model is not adequate to the matrix
            (``_selection.select``).

        Returns
        -------
        row_resp, column_resp : ndarray
        """
        options = candidates(csr, self.likelihood_, own, start, own_name=own_name)
        chosen = select(csr, self.likelihood_, options, own_if_inadequate)
        self.refined_from_ = chosen.name
        self._membership_models = {side: chosen.side_model(side)
                                   for side in ("row", "column")}
        self._block_noise_var = chosen.noise_var
        if "degree_corrected" in self._membership_models.values():
            self._degree_model = degree_corrected_parameters(csr, chosen.row_resp,
                                                             chosen.column_resp)
        return chosen.row_resp, chosen.column_resp

    def _block_model_memberships(self, csr, side):
        """Memberships of new rows (side='row') or columns under the kept block model.

        Returns
        -------
        memberships : ndarray of shape (n_nodes, n_clusters) or None
            None when the estimator's own model produced the kept partition.
        """
        rows = side == "row"
        other_resp = self.column_memberships_ if rows else self.row_memberships_
        own_resp = self.row_memberships_ if rows else self.column_memberships_
        # The block model's proportions: those of the kept partition (the estimator's own
        # mixture may still hold the proportions of its partition before refinement).
        proportions = np.maximum(own_resp.mean(0), MIN_PROPORTION)
        proportions = proportions / proportions.sum()
        model = self._membership_models[side]
        if model == "block":
            block = self.block_probabilities_ if rows else self.block_probabilities_.T
            return side_memberships(csr, other_resp, proportions,
                                    *make_likelihood(self.likelihood_).natural_parameters(
                                        block, self._block_noise_var))
        if model == "degree_corrected":
            omega, row_mass, column_mass = self._degree_model
            return degree_corrected_memberships(
                csr, other_resp, proportions, omega if rows else omega.T,
                column_mass if rows else row_mass)
        return None

    def _reorder_block_model(self, order):
        """Follow a new order of the column clusters (pairing) in the kept block model."""
        if "degree_corrected" in self._membership_models.values():
            omega, row_mass, column_mass = self._degree_model
            self._degree_model = (omega[:, order], row_mass, column_mass[order])
