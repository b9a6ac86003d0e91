"""The held-out score: log-likelihood of new rows under the fitted block model, each row's
cluster integrated out (``score``; ``docs/model.rst``, "Choosing the numbers of clusters").

``log p(x_i) = log sum_l pi_l p(x_i | l, B, column memberships)``: a row is predicted by
the block profile of every cluster, weighted by the proportions. With too few clusters no
profile fits a row of a merged cluster and the score drops; with too many, the blocks are
estimated from fewer training cells and held-out rows pay for their noise. The block
model is the one the ICL scores: plain for Bernoulli and Gaussian cells, degree-corrected
for Poisson cells (a row's total then comes from the row itself).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

from .._likelihoods import EPS, as_likelihood
from .._refine.block_em import (block_means, block_noise_variance, degree_corrected_logits,
                                degree_corrected_parameters, side_logits)


@dataclass(frozen=True)
class RowEvidence:
    """The fitted block model that scores new rows over the training columns.

    Attributes
    ----------
    likelihood : str
    proportions : ndarray of shape (L,)
    column_resp : ndarray of shape (P, Q)
    block : ndarray of shape (L, Q)
        Block means (plain model) or the degree-corrected rates ``omega``.
    noise_var : float
        Gaussian noise variance (1.0 otherwise).
    column_mass : ndarray of shape (Q,) or None
        Degree sum of each column cluster (degree-corrected model).
    column_degrees : ndarray of shape (P,) or None
        Training total of each column (degree-corrected model).
    """

    likelihood: str
    proportions: np.ndarray
    column_resp: np.ndarray
    block: np.ndarray
    noise_var: float = 1.0
    column_mass: np.ndarray = None
    column_degrees: np.ndarray = None

    @classmethod
    def fit(cls, csr, row_resp, column_resp, likelihood):
        """The block model of the reported memberships of the training matrix ``csr``."""
        likelihood = as_likelihood(likelihood)
        proportions = np.maximum(row_resp.mean(0), EPS)
        if likelihood.name == "poisson":
            omega, _, column_mass = degree_corrected_parameters(csr, row_resp, column_resp)
            return cls(likelihood.name, proportions, column_resp, omega,
                       column_mass=column_mass,
                       column_degrees=np.asarray(csr.sum(axis=0)).ravel())
        noise_var = (block_noise_variance(csr, row_resp, column_resp)
                     if likelihood.has_noise_variance else 1.0)
        return cls(likelihood.name, proportions, column_resp,
                   block_means(csr, row_resp, column_resp), noise_var)

    def log_likelihood(self, csr):
        """``log p(x_i)`` of every row of ``csr`` (new rows over the training columns).

        Returns
        -------
        log_likelihood : ndarray of shape (n_rows,)
        """
        likelihood = as_likelihood(self.likelihood)
        if self.column_mass is not None:
            logits = degree_corrected_logits(csr, self.column_resp, self.proportions,
                                             np.maximum(self.block, EPS), self.column_mass)
        else:
            logits = side_logits(csr, self.column_resp, self.proportions,
                                 *likelihood.natural_parameters(self.block, self.noise_var))
        return logsumexp(logits, axis=1) + self._row_terms(csr)

    def _row_terms(self, csr):
        """The part of each row's log-likelihood that no cluster changes."""
        if self.column_mass is not None:
            degrees = np.asarray(csr.sum(axis=1)).ravel()
            coo = csr.tocoo()
            scale = np.log(np.maximum(degrees[coo.row] * self.column_degrees[coo.col], EPS))
            return np.bincount(coo.row, coo.data * scale - gammaln(coo.data + 1.0),
                               minlength=csr.shape[0])
        if self.likelihood == "gaussian":
            squares = np.asarray(csr.multiply(csr).sum(axis=1)).ravel()
            return (-squares / (2 * self.noise_var)
                    - 0.5 * csr.shape[1] * np.log(2 * np.pi * self.noise_var))
        return np.zeros(csr.shape[0])

    def score(self, csr):
        """Mean log-likelihood per cell of the rows of ``csr``."""
        return float(self.log_likelihood(csr).sum() / max(csr.shape[0] * csr.shape[1], 1))
