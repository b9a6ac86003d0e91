"""The latent block model refinement against brute-force likelihoods."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats
from scipy.special import softmax

from skcocluster._likelihoods import make_likelihood
from skcocluster._refine.block_em import (degree_corrected_bound, degree_corrected_memberships,
                                          refine_block_model, refine_degree_corrected,
                                          side_memberships)
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score


@pytest.mark.parametrize("likelihood", ["bernoulli", "poisson", "gaussian"])
def test_side_memberships_match_brute_force(likelihood):
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(6, 5)).astype(float)
    if likelihood == "bernoulli":
        X = (X > 0).astype(float)
    elif likelihood == "gaussian":
        X = X - 1.0
    columns = rng.integers(2, size=5)
    column_resp = np.eye(2)[columns]
    block = rng.uniform(0.2, 0.8, size=(3, 2))
    proportions = np.array([0.2, 0.3, 0.5])
    noise_var = 0.8
    natural, cumulant = make_likelihood(likelihood).natural_parameters(block, noise_var)
    ours = side_memberships(sp.csr_matrix(X), column_resp, proportions, natural, cumulant)
    log_lik = np.zeros((6, 3))
    for l in range(3):
        params = block[l, columns]
        if likelihood == "bernoulli":
            cell = stats.bernoulli.logpmf(X, params)
        elif likelihood == "poisson":
            cell = stats.poisson.logpmf(X, params)
        else:
            cell = stats.norm.logpdf(X, params, np.sqrt(noise_var))
        log_lik[:, l] = np.log(proportions[l]) + cell.sum(1)
    np.testing.assert_allclose(ours, softmax(log_lik, axis=1), rtol=1e-8, atol=1e-12)


def test_refinement_recovers_planted_blocks_from_a_noisy_start():
    blocks = np.full((3, 3), 0.2) + 0.2 * np.eye(3)
    X, rows, cols = make_lbm(300, 200, 3, block_params=blocks, random_state=0)
    rng = np.random.default_rng(0)
    noisy_rows = np.where(rng.random(300) < 0.3, rng.integers(3, size=300), rows)
    noisy_cols = np.where(rng.random(200) < 0.3, rng.integers(3, size=200), cols)
    start = coclustering_adjusted_rand_score(rows, cols, noisy_rows, noisy_cols)
    row_resp, column_resp, _ = refine_block_model(sp.csr_matrix(X), np.eye(3)[noisy_rows],
                                                  np.eye(3)[noisy_cols])
    final = coclustering_adjusted_rand_score(rows, cols, row_resp.argmax(1),
                                             column_resp.argmax(1))
    # The ceiling: the same EM started at the true partition.
    true_rows, true_cols, _ = refine_block_model(sp.csr_matrix(X), np.eye(3)[rows],
                                                 np.eye(3)[cols])
    ceiling = coclustering_adjusted_rand_score(rows, cols, true_rows.argmax(1),
                                               true_cols.argmax(1))
    assert start < 0.6 and ceiling > 0.9
    assert final >= ceiling - 0.01


def test_degree_corrected_memberships_match_brute_force():
    rng = np.random.default_rng(1)
    X = rng.poisson(1.5, size=(6, 5)).astype(float)
    columns = rng.integers(2, size=5)
    column_resp = np.eye(2)[columns]
    omega = rng.uniform(0.01, 0.1, size=(3, 2))
    proportions = np.array([0.2, 0.3, 0.5])
    column_degrees = rng.uniform(1, 5, size=5)
    column_mass = column_resp.T @ column_degrees
    ours = degree_corrected_memberships(sp.csr_matrix(X), column_resp, proportions, omega,
                                        column_mass)
    row_degrees = X.sum(1)
    log_lik = np.zeros((6, 3))
    for l in range(3):
        rate = row_degrees[:, None] * column_degrees[None, :] * omega[l, columns][None, :]
        log_lik[:, l] = np.log(proportions[l]) + stats.poisson.logpmf(X, rate).sum(1)
    np.testing.assert_allclose(ours, softmax(log_lik, axis=1), rtol=1e-8, atol=1e-12)


def test_degree_corrected_refinement_ignores_degree_and_finds_profiles():
    # Rows differ wildly in total, clusters differ in profile only.
    blocks = np.array([[2.0, 0.5, 0.5], [0.5, 2.0, 0.5], [0.5, 0.5, 2.0]]) * 0.3
    X, rows, cols = make_lbm(400, 300, 3, block_params=blocks, likelihood="poisson",
                             row_degree_spread=1.0, column_degree_spread=1.0, random_state=0)
    csr = sp.csr_matrix(X)
    rng = np.random.default_rng(0)
    noisy_rows = np.where(rng.random(400) < 0.3, rng.integers(3, size=400), rows)
    noisy_cols = np.where(rng.random(300) < 0.3, rng.integers(3, size=300), cols)
    dc_rows, dc_cols = refine_degree_corrected(csr, np.eye(3)[noisy_rows], np.eye(3)[noisy_cols])
    plain_rows, plain_cols, _ = refine_block_model(csr, np.eye(3)[noisy_rows],
                                                   np.eye(3)[noisy_cols], likelihood="poisson")
    dc = coclustering_adjusted_rand_score(rows, cols, dc_rows.argmax(1), dc_cols.argmax(1))
    plain = coclustering_adjusted_rand_score(rows, cols, plain_rows.argmax(1),
                                             plain_cols.argmax(1))
    assert dc >= 0.9 and dc > plain + 0.1
    assert degree_corrected_bound(csr, dc_rows, dc_cols) > degree_corrected_bound(
        csr, np.eye(3)[noisy_rows], np.eye(3)[noisy_cols])


def test_a_shared_product_gives_the_same_step_as_separate_products():
    # The EM's side steps compute A C once for the block sums and the memberships.
    from skcocluster._refine.block_em import block_means
    from skcocluster._refine.sharding import WHOLE

    rng = np.random.default_rng(3)
    X = sp.random(40, 30, density=0.2, random_state=4, format="csr")
    row_resp = softmax(rng.normal(size=(40, 3)), axis=1)
    column_resp = softmax(rng.normal(size=(30, 2)), axis=1)
    product = X @ column_resp
    np.testing.assert_array_equal(WHOLE.block_sums(X, row_resp, column_resp, product),
                                  WHOLE.block_sums(X, row_resp, column_resp))
    block = block_means(X, row_resp, column_resp)
    natural, cumulant = make_likelihood("poisson").natural_parameters(block, 1.0)
    proportions = row_resp.mean(0)
    np.testing.assert_array_equal(
        side_memberships(X, column_resp, proportions, natural, cumulant, product=product),
        side_memberships(X, column_resp, proportions, natural, cumulant))
    omega = np.exp(rng.normal(size=(3, 2)))
    mass = column_resp.T @ np.asarray(X.sum(0)).ravel()
    np.testing.assert_array_equal(
        degree_corrected_memberships(X, column_resp, proportions, omega, mass, product=product),
        degree_corrected_memberships(X, column_resp, proportions, omega, mass))
    # and a wrong product is used, not silently recomputed
    assert not np.allclose(
        side_memberships(X, column_resp, proportions, natural, cumulant, product=2 * product),
        side_memberships(X, column_resp, proportions, natural, cumulant))
