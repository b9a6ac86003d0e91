"""Integrated completed likelihood (ICL) of a hard partition under a latent block model.

``ICL(z, w) = log p(A, z, w | L, Q)`` with the model's parameters integrated out
(``docs/model.rst``, "Choosing the numbers of clusters"). It splits into the memberships'
part, exact under symmetric Dirichlet(1/2) priors on the proportions, and the cells' part:

- Bernoulli, Beta(1/2, 1/2) on each block probability: exact;
- Poisson, Gamma(1/2, 1/(2 m)) on each block rate (prior mean ``m``, the mean cell):
  exact;
- the degree-corrected Poisson model ``A_ij ~ Poisson(d_i c_j omega_lq)`` (non-negative
  cells) with the row and column totals ``d``, ``c`` plugged in and a Gamma(1/2, T/2) prior
  on each ``omega_lq`` (prior mean ``1/T``, ``T`` the matrix total: the rate of a matrix
  without structure): exact given the totals;
- Gaussian, one noise variance: the BIC form, the maximised log-likelihood less
  ``(L Q / 2) log(M P)``.

The cells' and memberships' parts also take soft memberships (their expected statistics):
the benchmarks score alternatives to the ICL with them (``benchmarks/count_criteria.py``).

Terms that do not depend on the partition (``log x!``, ``x log(d_i c_j)``) are left out:
criteria are compared between partitions of the same matrix only.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import betaln, gammaln

from .._likelihoods import EPS, as_likelihood

# Concentration of the Dirichlet, Beta and Gamma priors (Jeffreys-like, as blockcluster).
PRIOR_CONCENTRATION = 0.5


def one_hot(labels, n_clusters):
    """Sparse one-hot memberships of integer labels, shape (n, n_clusters)."""
    n = labels.size
    return sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, n_clusters))


def dirichlet_evidence(sizes, a=PRIOR_CONCENTRATION):
    """``log p(z)`` of memberships of the given cluster sizes (soft sizes allowed), the
    proportions integrated out under Dirichlet(a, ..., a):
    ``log G(K a) - K log G(a) + sum_k log G(n_k + a) - log G(n + K a)``; an empty cluster
    costs its share of the prior mass, so it lowers the criterion."""
    n_clusters = sizes.size
    return float(gammaln(n_clusters * a) - n_clusters * gammaln(a)
                 + gammaln(sizes + a).sum() - gammaln(sizes.sum() + n_clusters * a))


def membership_log_evidence(labels, n_clusters, a=PRIOR_CONCENTRATION):
    """``log p(z)`` of hard labels (:func:`dirichlet_evidence`)."""
    return dirichlet_evidence(np.bincount(labels, minlength=n_clusters).astype(float), a)


def block_statistics(csr, rows, columns):
    """Sums and cell counts of every block, both (L, Q), under memberships ``rows`` (M, L)
    and ``columns`` (P, Q): one-hot (sparse) for a hard partition, or soft (dense), whose
    statistics are then the expected ones."""
    sums = rows.T @ (csr @ columns)
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    counts = np.outer(np.asarray(rows.sum(0)).ravel(), np.asarray(columns.sum(0)).ravel())
    return sums, counts.astype(np.float64)


def bernoulli_cells(csr, rows, columns, a=PRIOR_CONCENTRATION):
    """``log p(A | z, w)`` of the Bernoulli LBM, Beta(a, a) on each block probability."""
    ones, counts = block_statistics(csr, rows, columns)
    return float((betaln(ones + a, np.maximum(counts - ones, 0.0) + a) - betaln(a, a)).sum())


def poisson_cells(csr, rows, columns, a=PRIOR_CONCENTRATION):
    """``log p(A | z, w)`` of the plain Poisson LBM, up to a constant.

    ``lambda_lq ~ Gamma(a, a / m)`` (prior mean ``m``, the matrix's mean cell); a block of
    sum ``S`` over ``n`` cells gives
    ``a log(a / m) - log G(a) + log G(a + S) - (a + S) log(a / m + n)``.
    """
    sums, counts = block_statistics(csr, rows, columns)
    rate = a / max(csr.sum() / (csr.shape[0] * csr.shape[1]), EPS)
    return float((a * np.log(rate) - gammaln(a) + gammaln(a + sums)
                  - (a + sums) * np.log(rate + counts)).sum())


def degree_corrected_cells(csr, rows, columns, a=PRIOR_CONCENTRATION):
    """``log p(A | z, w, d, c)`` of the degree-corrected Poisson LBM, up to a constant.

    ``omega_lq ~ Gamma(a, a T)``; a block of sum ``S`` and degree mass ``R_l C_q`` gives
    ``a log(a T) - log G(a) + log G(a + S) - (a + S) log(a T + R_l C_q)``.
    """
    sums, _ = block_statistics(csr, rows, columns)
    row_degrees = np.asarray(csr.sum(axis=1)).ravel()
    column_degrees = np.asarray(csr.sum(axis=0)).ravel()
    mass = np.outer(np.asarray(rows.T @ row_degrees).ravel(),
                    np.asarray(columns.T @ column_degrees).ravel())
    rate = a * max(float(row_degrees.sum()), EPS)
    return float((a * np.log(rate) - gammaln(a) + gammaln(a + sums)
                  - (a + sums) * np.log(rate + mass)).sum())


def gaussian_cells(csr, rows, columns):
    """BIC form of ``log p(A | z, w)`` for Gaussian blocks with one noise variance."""
    sums, counts = block_statistics(csr, rows, columns)
    n_cells = csr.shape[0] * csr.shape[1]
    residual = (np.square(csr.data).sum()
                - (np.square(sums) / np.maximum(counts, EPS)).sum())
    variance = max(residual / n_cells, EPS)
    log_likelihood = -0.5 * n_cells * (np.log(2 * np.pi * variance) + 1.0)
    return float(log_likelihood - 0.5 * counts.size * np.log(n_cells))


def log_evidence(csr, rows, columns, likelihood, degree_corrected=False):
    """``log p(z) + log p(w) + log p(A | z, w)`` at memberships ``rows`` (M, L) and
    ``columns`` (P, Q), hard (one-hot) or soft (expected statistics).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    rows : sparse matrix or ndarray of shape (M, L)
    columns : sparse matrix or ndarray of shape (P, Q)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
        The plain block model's cells.
    degree_corrected : bool, default=False
        Score the degree-corrected Poisson block model instead (non-negative cells; for
        binary cells a Poisson approximation).

    Returns
    -------
    log_evidence : float
    """
    likelihood = as_likelihood(likelihood)
    cells = degree_corrected_cells if degree_corrected else {
        "bernoulli": bernoulli_cells, "poisson": poisson_cells,
        "gaussian": gaussian_cells}[likelihood.name]
    return (dirichlet_evidence(np.asarray(rows.sum(0), dtype=float).ravel())
            + dirichlet_evidence(np.asarray(columns.sum(0), dtype=float).ravel())
            + cells(csr, rows, columns))


def icl(csr, row_labels, column_labels, shape, likelihood, degree_corrected=False):
    """The ICL of a hard partition under a block model (module docstring).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    row_labels : ndarray of int, shape (M,)
    column_labels : ndarray of int, shape (P,)
    shape : tuple of (int, int)
        ``(L, Q)``: clusters of each side, empty ones included.
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    degree_corrected : bool, default=False
        See :func:`log_evidence`.

    Returns
    -------
    icl : float
        Higher is better.
    """
    return log_evidence(csr, one_hot(row_labels, shape[0]), one_hot(column_labels, shape[1]),
                        likelihood, degree_corrected)


def icl_of_memberships(csr, row_resp, column_resp, likelihood, degree_corrected=False):
    """The ICL of the hard partition of soft memberships (their argmax): the criterion of
    ``n_clusters='auto'``."""
    shape = (row_resp.shape[1], column_resp.shape[1])
    return icl(csr, row_resp.argmax(1), column_resp.argmax(1), shape, likelihood,
               degree_corrected)
