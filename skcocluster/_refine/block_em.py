"""Variational EM of the plain latent block model, from given memberships.

Used to refine a partition on block-structured data (``docs/model.rst``, "The final
partition") and, in the benchmarks, as the block model's ceiling when started at the true
partition. Works on
scipy.sparse matrices: each iteration costs two sparse products with the memberships.
Every sum over rows, columns or cells goes through a
:class:`~skcocluster._refine.sharding.Sharding`, so the same EM runs on a row shard (row
memberships local, column memberships replicated and updated from all-reduced sums).

All three likelihoods are exponential families in the cell value, so a row's log-likelihood
under row cluster l is ``sum_q [(A delta)_iq theta_lq - n_q psi_lq]`` up to a term that does
not depend on l, with the natural parameter ``theta`` and cumulant ``psi`` of the block:

- Bernoulli: ``theta = logit(B)``, ``psi = -log(1 - B)``;
- Poisson: ``theta = log(B)``, ``psi = B``;
- Gaussian (one noise variance v): ``theta = B / v``, ``psi = B^2 / (2 v)``.
"""

import numpy as np
from scipy.special import log_softmax

from .._likelihoods import EPS, as_likelihood
from .._parallel.reducer import IDENTITY
from .sharding import WHOLE


def block_means(csr, row_resp, column_resp, sharding=WHOLE, product=None):
    """Mean cell value of each block under soft memberships.

    ``product`` is ``csr @ column_resp`` where the caller has it
    (:meth:`Sharding.block_sums`).

    Returns
    -------
    block : ndarray of shape (L, Q)
    """
    mass = np.outer(*sharding.sizes(row_resp, column_resp))
    return sharding.block_sums(csr, row_resp, column_resp, product) / np.maximum(mass, EPS)


def block_noise_variance(csr, row_resp, column_resp, sharding=WHOLE, product=None):
    """Within-block variance of the cells (the Gaussian block model's noise variance;
    ``product`` as for :func:`block_means`)."""
    mass = np.outer(*sharding.sizes(row_resp, column_resp))
    sums = sharding.block_sums(csr, row_resp, column_resp, product)
    squares = sharding.cells.sum_array([np.square(csr.data).sum()])[0]
    residual = squares - (np.square(sums) / np.maximum(mass, EPS)).sum()
    return max(residual / sharding.n_cells(csr), EPS)


def side_logits(csr, other_resp, proportions, natural, cumulant, other=IDENTITY,
                product=None):
    """``log pi_l + sum_q [(A delta)_iq theta_lq - n_q psi_lq]`` of every row and cluster:
    the log joint of a row and its cluster, up to a term of the row alone.

    Parameters
    ----------
    csr : sparse matrix of shape (n, m)
    other_resp : ndarray of shape (m, Q)
    proportions : ndarray of shape (L,)
    natural, cumulant : ndarray of shape (L, Q)
    other : Reducer, optional
        Sums over the other side's nodes (the columns of ``csr``), where they are split.
    product : ndarray of shape (n, Q), optional
        ``csr @ other_resp`` where the caller has it (before ``other`` sums it).

    Returns
    -------
    logits : ndarray of shape (n, L)
    """
    linked = other.sum_array(csr @ other_resp if product is None else product)
    return (np.log(np.maximum(proportions, EPS))[None, :] + linked @ natural.T
            - other.sum_array(other_resp.sum(0))[None, :] @ cumulant.T)


def side_memberships(csr, other_resp, proportions, natural, cumulant, other=IDENTITY,
                     product=None):
    """Memberships of the rows of ``csr`` given the other side's memberships: the softmax
    of :func:`side_logits` (same parameters).

    Returns
    -------
    resp : ndarray of shape (n, L)
    """
    return np.exp(log_softmax(side_logits(csr, other_resp, proportions, natural, cumulant,
                                          other, product), axis=1))


def cluster_shares(resp, reducer=IDENTITY):
    """The clusters' shares of a side's nodes (the mean of the memberships)."""
    return reducer.sum_array(resp.sum(0)) / reducer.count(resp.shape[0])


def _side_step(csr, row_resp, column_resp, likelihood, sharding):
    """New row memberships given the current ones (block parameters refitted first)."""
    # The block sums and the memberships both read A C: one sparse product serves both.
    product = csr @ column_resp
    block = block_means(csr, row_resp, column_resp, sharding, product)
    noise_var = block_noise_variance(csr, row_resp, column_resp, sharding, product) if (
        likelihood.has_noise_variance) else 1.0
    natural, cumulant = likelihood.natural_parameters(block, noise_var)
    return side_memberships(csr, column_resp, cluster_shares(row_resp, sharding.rows), natural,
                            cumulant, sharding.columns, product)


def largest_shift(new, old, sharding):
    """The largest change of any membership of either side (the same on every process)."""
    return sharding.cells.maximum(max(np.abs(n - o).max(initial=0.0)
                                      for n, o in zip(new, old)))


def refine_block_model(csr, row_resp, column_resp, *, likelihood="bernoulli", max_iter=50,
                       tol=1e-6, sharding=WHOLE):
    """Alternate the row and column updates of the LBM until memberships settle.

    Parameters
    ----------
    csr : sparse matrix of shape (M, P)
    row_resp : ndarray of shape (M, L)
    column_resp : ndarray of shape (P, Q)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    max_iter : int
    tol : float
        Stop when no membership moves by more than ``tol``.
    sharding : Sharding, optional
        Where the sums run (a row shard: ``csr`` and ``row_resp`` are this process's rows).

    Returns
    -------
    row_resp, column_resp : ndarray
    noise_var : float
        The Gaussian noise variance at the end (1.0 for the other likelihoods).
    """
    likelihood = as_likelihood(likelihood)
    csr_t = csr.T.tocsr()
    for _ in range(max_iter):
        new_rows = _side_step(csr, row_resp, column_resp, likelihood, sharding)
        new_columns = _side_step(csr_t, column_resp, new_rows, likelihood, sharding.T)
        shift = largest_shift((new_rows, new_columns), (row_resp, column_resp), sharding)
        row_resp, column_resp = new_rows, new_columns
        if shift < tol:
            break
    noise_var = block_noise_variance(csr, row_resp, column_resp, sharding) if (
        likelihood.has_noise_variance) else 1.0
    return row_resp, column_resp, noise_var


def membership_terms(row_resp, column_resp):
    """``sum gamma log(pi / gamma) + sum delta log(tau / delta)`` at the optimal proportions."""
    total = 0.0
    for resp in (row_resp, column_resp):
        proportions = np.maximum(resp.mean(0), EPS)
        safe = np.maximum(resp, 1e-300)
        total += float((resp * (np.log(proportions)[None, :] - np.log(safe))).sum())
    return total


def _degree_corrected_blocks(csr, row_resp, column_resp, row_degrees, column_degrees,
                             sharding=WHOLE, product=None):
    """Block rates ``omega`` of the degree-corrected Poisson block model and the masses
    (``product`` as for :func:`block_means`)."""
    sums = sharding.block_sums(csr, row_resp, column_resp, product)
    row_mass = sharding.rows.sum_array(row_resp.T @ row_degrees)
    column_mass = sharding.columns.sum_array(column_resp.T @ column_degrees)
    omega = sums / np.maximum(np.outer(row_mass, column_mass), EPS)
    return sums, row_mass, column_mass, np.maximum(omega, EPS)


def degree_corrected_bound(csr, row_resp, column_resp):
    """Bound of the degree-corrected Poisson block model at given memberships.

    ``A_ij ~ Poisson(theta_i phi_j omega_lq)`` with ``theta``, ``phi`` the row and column
    sums: a row's total is explained by its degree, so clusters of degree alone earn
    nothing, only clusters of *profile* do. The data-only constant is left out.
    """
    row_degrees = np.asarray(csr.sum(axis=1)).ravel()
    column_degrees = np.asarray(csr.sum(axis=0)).ravel()
    sums, row_mass, column_mass, omega = _degree_corrected_blocks(
        csr, row_resp, column_resp, row_degrees, column_degrees)
    bound = float((sums * np.log(omega) - np.outer(row_mass, column_mass) * omega).sum())
    return bound + membership_terms(row_resp, column_resp)


def _degree_corrected_side_step(csr, row_resp, column_resp, row_degrees, column_degrees,
                                sharding):
    """New row memberships of the degree-corrected model (block rates refitted first)."""
    product = csr @ column_resp  # read by the block rates and the memberships alike
    _, _, column_mass, omega = _degree_corrected_blocks(
        csr, row_resp, column_resp, row_degrees, column_degrees, sharding, product)
    return degree_corrected_memberships(csr, column_resp, cluster_shares(row_resp, sharding.rows),
                                        omega, column_mass, sharding.columns, row_degrees,
                                        product)


def refine_degree_corrected(csr, row_resp, column_resp, *, max_iter=50, tol=1e-6,
                            sharding=WHOLE):
    """Variational EM of the degree-corrected Poisson block model (see
    :func:`degree_corrected_bound`), alternating rows and columns.

    ``sharding`` says where the sums run, as for :func:`refine_block_model`.

    Returns
    -------
    row_resp, column_resp : ndarray
    """
    csr_t = csr.T.tocsr()
    row_degrees, column_degrees = sharding.degrees(csr)
    for _ in range(max_iter):
        new_rows = _degree_corrected_side_step(csr, row_resp, column_resp, row_degrees,
                                               column_degrees, sharding)
        new_columns = _degree_corrected_side_step(csr_t, column_resp, new_rows,
                                                  column_degrees, row_degrees, sharding.T)
        shift = largest_shift((new_rows, new_columns), (row_resp, column_resp), sharding)
        row_resp, column_resp = new_rows, new_columns
        if shift < tol:
            break
    return row_resp, column_resp


def degree_corrected_parameters(csr, row_resp, column_resp, sharding=WHOLE):
    """Fitted ``(omega, row_mass, column_mass)`` of the degree-corrected block model.

    ``row_mass`` (L,) and ``column_mass`` (Q,) are the degree sums of each cluster.
    """
    _, row_mass, column_mass, omega = _degree_corrected_blocks(
        csr, row_resp, column_resp, *sharding.degrees(csr), sharding)
    return omega, row_mass, column_mass


def degree_corrected_logits(csr, other_resp, proportions, omega, other_mass, other=IDENTITY,
                            degrees=None, product=None):
    """Log joint of each row of ``csr`` and each cluster under the degree-corrected block
    model, up to a term of the row alone (``sum_j A_ij log(d_i c_j) - log A_ij!``).

    Parameters
    ----------
    csr : sparse matrix of shape (n, m)
    other_resp : ndarray of shape (m, Q)
    proportions : ndarray of shape (L,)
    omega : ndarray of shape (L, Q)
    other_mass : ndarray of shape (Q,)
        Degree sum of each cluster of the other side (from the training matrix).
    other : Reducer, optional
        Sums over the other side's nodes (the columns of ``csr``), where they are split.
    degrees : ndarray of shape (n,), optional
        The rows' sums over every column, where the caller has them (the EM computes them
        once); summed from ``csr`` otherwise.
    product : ndarray of shape (n, Q), optional
        ``csr @ other_resp`` where the caller has it (before ``other`` sums it).

    Returns
    -------
    logits : ndarray of shape (n, L)
    """
    if degrees is None:
        degrees = other.sum_array(np.asarray(csr.sum(axis=1)).ravel())
    linked = other.sum_array(csr @ other_resp if product is None else product)
    return (np.log(np.maximum(proportions, EPS))[None, :] + linked @ np.log(omega).T
            - degrees[:, None] * (omega @ other_mass)[None, :])


def degree_corrected_memberships(csr, other_resp, proportions, omega, other_mass,
                                 other=IDENTITY, degrees=None, product=None):
    """Memberships of the rows of ``csr`` under the degree-corrected block model: the
    softmax of :func:`degree_corrected_logits` (same parameters).

    Returns
    -------
    resp : ndarray of shape (n, L)
    """
    return np.exp(log_softmax(
        degree_corrected_logits(csr, other_resp, proportions, omega, other_mass, other,
                                degrees, product),
        axis=1))
