"""Criteria measured against the ICL of ``n_clusters='auto'`` and not kept
(``benchmarks/README.md``, "Choosing the numbers of clusters"); each is a
``criterion(csr, row_resp, column_resp, likelihood, degree_corrected)`` of the block
model's EM memberships, for ``choose_cluster_counts(..., criterion=...)``.

* :func:`variational_bic`: ``J(gamma, delta) - (L Q / 2) log(M P) - ((L - 1) / 2) log M
  - ((Q - 1) / 2) log P``, with ``J`` the variational bound at the soft memberships
  ``gamma`` (rows) and ``delta`` (columns), block parameters and proportions at their
  maximum. Unlike the ICL of the hard partition, ``J`` does not pay for the entropy of
  the memberships; its penalty, ``(1 / 2) log(M P)`` per block, is larger than the ICL's
  Beta and Gamma normalisers.
* :func:`variational_icl`: the ICL's formula at the memberships' expected statistics plus
  their entropies: the lower bound on ``log p(A | L, Q)`` of variational Bayes with the
  parameters' posteriors at their optimum given the memberships (the ILvb of Keribin,
  Brault, Celeux and Govaert, Statistics and Computing 2015); the ICL for hard
  memberships.

Terms that do not depend on the memberships (``log x!``, ``x log(d_i c_j)``) are left
out: criteria are compared between fits of the same matrix only.
"""

import numpy as np

from skcocluster._likelihoods import as_likelihood
from skcocluster._refine.block_em import (block_means, block_noise_variance,
                                          degree_corrected_bound, membership_terms)
from skcocluster._select.icl import log_evidence


def plain_bound(csr, row_resp, column_resp, likelihood):
    """Variational bound of the plain block model at its maximising block parameters.

    Bernoulli and Poisson: ``sum_lq S_lq theta_lq - N_lq psi_lq`` with the soft block sums
    ``S``, soft cell counts ``N`` and the natural parameter and cumulant of the block means;
    Gaussian (one noise variance ``v``): ``-(M P / 2)(log 2 pi v + 1)``. Plus the
    memberships' terms (:func:`~skcocluster._refine.block_em.membership_terms`).
    """
    likelihood = as_likelihood(likelihood)
    if likelihood.has_noise_variance:
        variance = block_noise_variance(csr, row_resp, column_resp)
        cells = -0.5 * csr.shape[0] * csr.shape[1] * (np.log(2 * np.pi * variance) + 1.0)
    else:
        mass = np.outer(row_resp.sum(0), column_resp.sum(0))
        natural, cumulant = likelihood.natural_parameters(
            block_means(csr, row_resp, column_resp))
        sums = row_resp.T @ (csr @ column_resp)
        cells = float((sums * natural - mass * cumulant).sum())
    return cells + membership_terms(row_resp, column_resp)


def bic_penalty(shape, size):
    """``(L Q / 2) log(M P) + ((L - 1) / 2) log M + ((Q - 1) / 2) log P``: half the log
    of the cells per block parameter, of the rows and of the columns per proportion."""
    (n_row_clusters, n_column_clusters), (n_rows, n_columns) = shape, size
    return 0.5 * (n_row_clusters * n_column_clusters * np.log(n_rows * n_columns)
                  + (n_row_clusters - 1) * np.log(n_rows)
                  + (n_column_clusters - 1) * np.log(n_columns))


def variational_bic(csr, row_resp, column_resp, likelihood, degree_corrected=False):
    """The BIC of the bound at the given soft memberships (module docstring).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    row_resp : ndarray of shape (M, L)
    column_resp : ndarray of shape (P, Q)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
        The plain block model's cells.
    degree_corrected : bool, default=False
        Score the degree-corrected Poisson block model instead (non-negative cells; the
        row and column totals are plugged in, so they add no parameter per pair).

    Returns
    -------
    bic : float
        Higher is better.
    """
    bound = (degree_corrected_bound(csr, row_resp, column_resp) if degree_corrected
             else plain_bound(csr, row_resp, column_resp, likelihood))
    return bound - bic_penalty((row_resp.shape[1], column_resp.shape[1]), csr.shape)


def entropy(resp):
    """``-sum resp log resp`` of soft memberships."""
    return -float((resp * np.log(np.maximum(resp, 1e-300))).sum())


def variational_icl(csr, row_resp, column_resp, likelihood, degree_corrected=False):
    """The variational ICL at soft memberships (module docstring); parameters as
    :func:`variational_bic`, higher is better."""
    return (log_evidence(csr, row_resp, column_resp, likelihood, degree_corrected)
            + entropy(row_resp) + entropy(column_resp))
