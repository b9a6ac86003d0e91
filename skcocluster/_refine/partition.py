"""The reported partition and the model that assigns new rows and columns to it.

Whichever candidate the refinement stage keeps (``docs/model.rst``, "The final
partition"), new rows and columns must be assigned under the model that produced each side
of it: the estimator's own model, the plain block model or the degree-corrected one. A
:class:`FittedPartition` holds the memberships with that model and its parameters.
"""

from dataclasses import dataclass, replace

import numpy as np

from .._likelihoods import make_likelihood
from .block_em import degree_corrected_memberships, side_memberships
from .selection import BLOCK_MODEL, DEGREE_CORRECTED_MODEL, OWN_MODEL

# Floor of a cluster's proportion when assigning new nodes (an empty cluster stays possible).
MIN_PROPORTION = 1e-12


@dataclass(eq=False)
class FittedPartition:
    """Memberships of the training rows and columns, and the model of new ones.

    Attributes
    ----------
    row_resp, column_resp : ndarray of shape (M, L) and (P, Q)
        Row and column memberships.
    refined_from : str or None
        Which candidate of the refinement stage this is (``refined_from_``); None where no
        refinement stage chose it.
    row_model, column_model : {'own', 'block', 'degree_corrected'}
        The model that gives the memberships of new rows (new columns): 'own' hands them
        to the estimator's own model.
    likelihood : str or None
        The resolved likelihood of the block model.
    noise_var : float
        Noise variance of the Gaussian block model (1.0 otherwise).
    degree_model : tuple of ndarray or None
        ``(omega, row_mass, column_mass)`` of the degree-corrected block model
        (:func:`~skcocluster._refine.block_em.degree_corrected_parameters`), where a side
        uses it.
    block : ndarray of shape (L, Q) or None
        Mean cell value of each block of the reported memberships (the plain block
        model's parameters), set by :meth:`reported`.
    """

    row_resp: np.ndarray
    column_resp: np.ndarray
    refined_from: str = None
    row_model: str = OWN_MODEL
    column_model: str = OWN_MODEL
    likelihood: str = None
    noise_var: float = 1.0
    degree_model: tuple = None
    block: np.ndarray = None

    def reported(self, block, column_order=None):
        """This partition as the estimator reports it.

        Parameters
        ----------
        block : ndarray of shape (L, Q)
            Block means of the reported memberships, their columns already in
            ``column_order``.
        column_order : ndarray of shape (Q,), optional
            New order of the column clusters (pairing with the row clusters):
            ``column_order[k]`` is the old index of new cluster k.

        Returns
        -------
        partition : FittedPartition
        """
        if column_order is None:
            return replace(self, block=block)
        degree_model = self.degree_model
        if degree_model is not None:
            omega, row_mass, column_mass = degree_model
            degree_model = (omega[:, column_order], row_mass, column_mass[column_order])
        return replace(self, column_resp=self.column_resp[:, column_order],
                       degree_model=degree_model, block=block)

    def side_model(self, side):
        """The model that gives the memberships of new rows (side='row') or columns."""
        return self.row_model if side == "row" else self.column_model

    def new_memberships(self, csr, side):
        """Memberships of new rows (side='row') or columns under the side's block model.

        Parameters
        ----------
        csr : sparse matrix of shape (n_nodes, n_other)
            The new nodes' cells (new columns: transposed, over the training rows).
        side : {'row', 'column'}

        Returns
        -------
        memberships : ndarray of shape (n_nodes, n_clusters) or None
            None where the estimator's own model produced that side of the partition.
        """
        model = self.side_model(side)
        if model == OWN_MODEL:
            return None
        rows = side == "row"
        other_resp = self.column_resp if rows else self.row_resp
        own_resp = self.row_resp if rows else self.column_resp
        # The proportions of the reported partition: the estimator's own mixture may still
        # hold those of its partition before refinement.
        proportions = np.maximum(own_resp.mean(0), MIN_PROPORTION)
        proportions = proportions / proportions.sum()
        if model == BLOCK_MODEL:
            block = self.block if rows else self.block.T
            return side_memberships(csr, other_resp, proportions,
                                    *make_likelihood(self.likelihood).natural_parameters(
                                        block, self.noise_var))
        if model != DEGREE_CORRECTED_MODEL:
            raise ValueError(f"Unknown model of new nodes: {model!r}.")
        omega, row_mass, column_mass = self.degree_model
        return degree_corrected_memberships(
            csr, other_resp, proportions, omega if rows else omega.T,
            column_mass if rows else row_mass)
