"""n_clusters='auto' (the ICL of the block model on a greedy path), the criteria measured
against it, and the held-out score."""

import importlib
import itertools
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import betaln, logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster._select.cluster_count import choose_cluster_counts
from skcocluster._select.icl import bernoulli_cells, icl, membership_log_evidence, one_hot
from skcocluster._select.row_evidence import RowEvidence
from skcocluster.datasets import make_lbm

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
FAST = dict(pretrain_epochs=30, max_iter=30, hidden_dim=16, latent_dim=4, random_state=0)
VC_FAST = dict(pretrain_epochs=5, max_iter=10, hidden_dim=16, latent_dim=4, batch_size=64,
               cells_per_batch=256, n_samples=3, random_state=0)
# A clear (3, 2) checkerboard: rows of cluster 3 link to both column clusters.
CHECKERBOARD = [[0.5, 0.1], [0.1, 0.5], [0.4, 0.4]]


def diagonal(n_row_clusters, n_column_clusters, background, lift):
    """Row cluster l links most to column cluster l mod Q, and the row clusters beyond
    the Q-th also to column cluster l + 1 mod Q (so that every row profile differs)."""
    block = np.full((n_row_clusters, n_column_clusters), background)
    clusters = np.arange(n_row_clusters)
    block[clusters, clusters % n_column_clusters] += lift
    extra = clusters[n_column_clusters:]
    block[extra, (extra + 1) % n_column_clusters] += lift
    return block


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


def chosen(X, likelihood, seed=0):
    with threadpool_limits(1):
        choice = choose_cluster_counts(sp.csr_matrix(X), likelihood, seed)
    return choice.n_row_clusters, choice.n_column_clusters


# ------------------------------------------------------------------ the criterion
def test_membership_evidence_is_the_dirichlet_multinomial_by_sequential_prediction():
    labels = np.array([0, 2, 2, 1, 2, 0, 2, 3, 3, 2])
    counts, direct = np.zeros(5), 0.0
    for i, label in enumerate(labels):  # Polya urn: (n_k + a) / (i + K a)
        direct += np.log((counts[label] + 0.5) / (i + 5 * 0.5))
        counts[label] += 1
    assert membership_log_evidence(labels, 5) == pytest.approx(direct)


def test_bernoulli_cells_are_the_beta_bernoulli_evidence_of_each_block():
    rng = np.random.default_rng(0)
    X = (rng.random((7, 5)) < 0.4).astype(float)
    rows, cols = np.array([0, 1, 1, 0, 2, 2, 1]), np.array([1, 0, 1, 1, 0])
    direct = 0.0
    for l in range(3):
        for q in range(2):
            cells = X[np.ix_(rows == l, cols == q)]
            direct += betaln(cells.sum() + 0.5, cells.size - cells.sum() + 0.5) - betaln(0.5,
                                                                                       0.5)
    evidence = bernoulli_cells(sp.csr_matrix(X), one_hot(rows, 3), one_hot(cols, 2))
    assert evidence == pytest.approx(direct)


@pytest.mark.parametrize("likelihood, params, spread", [
    ("bernoulli", CHECKERBOARD, 0.0),
    ("poisson", [[2.0, 0.5], [0.5, 2.0], [1.5, 1.5]], 0.6),
    ("gaussian", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], 0.0)])
def test_icl_of_the_truth_beats_merged_and_split_partitions(likelihood, params, spread):
    X, rows, cols = make_lbm(300, 200, (3, 2), block_params=params, likelihood=likelihood,
                             row_degree_spread=spread, column_degree_spread=spread,
                             random_state=0)
    csr = sp.csr_matrix(X)
    truth = icl(csr, rows, cols, (3, 2), likelihood)
    merged_rows = np.minimum(rows, 1)
    split_rows = np.where((rows == 0) & (np.arange(300) % 2 == 0), 3, rows)
    split_columns = np.where((cols == 1) & (np.arange(200) % 2 == 0), 2, cols)
    assert truth > icl(csr, merged_rows, cols, (2, 2), likelihood) + 10
    assert truth > icl(csr, rows, np.zeros(200, int), (3, 1), likelihood) + 10
    assert truth > icl(csr, split_rows, cols, (4, 2), likelihood)
    assert truth > icl(csr, rows, split_columns, (3, 3), likelihood)


def _exact_log_evidence(X, shape, likelihood, degree_corrected):
    """``log p(A | L, Q)``: the ICL ``log p(A, z, w)`` of every labelled partition, summed
    (tiny matrices only)."""
    csr = sp.csr_matrix(X)
    return logsumexp([icl(csr, np.array(rows), np.array(cols), shape, likelihood,
                          degree_corrected)
                      for rows in itertools.product(range(shape[0]), repeat=X.shape[0])
                      for cols in itertools.product(range(shape[1]), repeat=X.shape[1])])


@pytest.fixture
def criteria(monkeypatch):
    """The criteria measured against the ICL (``benchmarks/count_criteria.py``)."""
    monkeypatch.syspath_prepend(BENCHMARKS)
    return importlib.import_module("count_criteria")


@pytest.mark.parametrize("likelihood", ["bernoulli", "poisson", "gaussian"])
def test_bic_of_hard_memberships_is_the_maximised_likelihood_less_the_penalty(criteria,
                                                                             likelihood):
    X, rows, cols = make_lbm(30, 20, (3, 2), likelihood=likelihood, random_state=0)
    block = np.array([[X[np.ix_(rows == l, cols == q)].mean() for q in range(2)]
                      for l in range(3)])
    mean = block[rows][:, cols]
    if likelihood == "bernoulli":
        cells = (X * np.log(mean) + (1 - X) * np.log1p(-mean)).sum()
    elif likelihood == "poisson":  # up to sum log x!, which no partition changes
        cells = (X * np.log(mean) - mean).sum()
    else:
        variance = np.square(X - mean).mean()
        cells = -0.5 * X.size * (np.log(2 * np.pi * variance) + 1)
    proportions = (np.log(np.bincount(rows) / 30)[rows].sum()
                   + np.log(np.bincount(cols) / 20)[cols].sum())
    penalty = 0.5 * (6 * np.log(600) + 2 * np.log(30) + np.log(20))
    bic = criteria.variational_bic(sp.csr_matrix(X), np.eye(3)[rows], np.eye(2)[cols],
                                   likelihood)
    assert bic == pytest.approx(cells + proportions - penalty)


def test_bic_prefers_the_truth_to_merged_and_split_partitions_of_a_clear_matrix(criteria):
    X, rows, cols = make_lbm(300, 200, (3, 2), block_params=CHECKERBOARD, random_state=0)
    csr = sp.csr_matrix(X)

    def bic(row_labels, column_labels):
        return criteria.variational_bic(csr, np.eye(row_labels.max() + 1)[row_labels],
                                        np.eye(column_labels.max() + 1)[column_labels],
                                        "bernoulli")

    truth = bic(rows, cols)
    assert truth > bic(np.minimum(rows, 1), cols) + 10
    assert truth > bic(np.where((rows == 0) & (np.arange(300) % 2 == 0), 3, rows), cols)
    assert truth > bic(rows, np.where((cols == 1) & (np.arange(200) % 2 == 0), 2, cols))


@pytest.mark.parametrize("likelihood, degree_corrected", [
    ("bernoulli", False), ("poisson", False), ("poisson", True)])
def test_variational_icl_bounds_the_evidence_and_is_the_icl_of_hard_memberships(
        criteria, likelihood, degree_corrected):
    X, rows, cols = make_lbm(6, 4, (2, 2), likelihood=likelihood, random_state=0)
    csr, shape = sp.csr_matrix(X), (2, 2)
    exact = _exact_log_evidence(X, shape, likelihood, degree_corrected)
    hard = criteria.variational_icl(csr, np.eye(2)[rows], np.eye(2)[cols], likelihood,
                                    degree_corrected)
    assert hard == pytest.approx(icl(csr, rows, cols, shape, likelihood, degree_corrected))
    rng = np.random.default_rng(0)
    for concentration in (0.3, 1.0, 10.0):  # near-hard to near-uniform memberships
        row_resp = rng.dirichlet(np.full(2, concentration), size=6)
        column_resp = rng.dirichlet(np.full(2, concentration), size=4)
        bound = criteria.variational_icl(csr, row_resp, column_resp, likelihood,
                                         degree_corrected)
        assert bound < exact
    assert hard < exact


# ------------------------------------------------------------------ the search
@pytest.mark.parametrize("truth, likelihood, params, spread, seed", [
    ((3, 2), "bernoulli", CHECKERBOARD, 0.0, 0),
    ((4, 4), "bernoulli", diagonal(4, 4, 0.1, 0.4), 0.0, 1),
    ((3, 2), "poisson", [[2.0, 0.5], [0.5, 2.0], [1.5, 1.5]], 0.0, 2),
    ((4, 4), "poisson", diagonal(4, 4, 0.5, 1.5), 0.8, 3)])
def test_search_finds_the_planted_numbers_on_clear_matrices(truth, likelihood, params,
                                                            spread, seed):
    X, _, _ = make_lbm(300, 200, truth, block_params=params, likelihood=likelihood,
                       row_degree_spread=spread, column_degree_spread=spread,
                       random_state=seed)
    assert chosen(X, likelihood, seed) == truth


def test_search_is_within_one_of_the_truth_on_a_weak_matrix():
    X, _, _ = make_lbm(300, 200, (4, 3), block_params=diagonal(4, 3, 0.1, 0.12),
                       random_state=0)
    n_row_clusters, n_column_clusters = chosen(X, "bernoulli")
    assert abs(n_row_clusters - 4) <= 1 and abs(n_column_clusters - 3) <= 1


def test_search_keeps_one_cluster_on_noise():
    X = (np.random.default_rng(0).random((200, 150)) < 0.2).astype(float)
    assert chosen(X, "bernoulli") == (1, 1)


def test_search_takes_another_criterion_of_the_memberships(criteria):
    # Lift 0.1, seed 1: the ICL stops at (2, 2); the BIC of the bound, which does not charge
    # the doubt of the memberships, comes within one of the planted (4, 3).
    X, _, _ = make_lbm(300, 200, (4, 3), block_params=diagonal(4, 3, 0.1, 0.1),
                       random_state=1)
    with threadpool_limits(1):
        choice = choose_cluster_counts(sp.csr_matrix(X), "bernoulli", 1,
                                       criterion=criteria.variational_bic)
    assert abs(choice.n_row_clusters - 4) <= 1 and abs(choice.n_column_clusters - 3) <= 1
    assert choice.scores[(choice.n_row_clusters, choice.n_column_clusters)] == max(
        choice.scores.values())


def test_search_keeps_one_cluster_on_counts_of_varying_totals_alone():
    X, _, _ = make_lbm(300, 200, (1, 1), block_params=[[1.0]], likelihood="poisson",
                       row_degree_spread=1.0, column_degree_spread=1.0, random_state=0)
    assert chosen(X, "poisson") == (1, 1)


# ------------------------------------------------------------------ the estimators
@pytest.fixture(scope="module")
def checkerboard():
    return make_lbm(300, 200, (3, 2), block_params=CHECKERBOARD, random_state=0)


@pytest.mark.parametrize("estimator, params", [(DeepLatentBlockCoclustering, FAST),
                                               (VariationalCoclustering, VC_FAST)])
def test_auto_fits_the_chosen_checkerboard(checkerboard, estimator, params):
    X, rows, cols = checkerboard
    model = fit_quietly(estimator("auto", **params), X)
    assert (model.n_row_clusters_, model.n_column_clusters_) == (3, 2)
    assert model.row_memberships_.shape == (300, 3)
    assert model.column_memberships_.shape == (200, 2)
    assert model.rows_.shape == (6, 300)  # the unpaired 3 x 2 checkerboard
    scores = model.cluster_count_scores_
    assert max(scores, key=scores.get) == (3, 2) and (1, 1) in scores
    assert model._stage_seconds["cluster_count"] > 0


def test_fixed_counts_store_them_without_a_search(checkerboard):
    X, _, _ = checkerboard
    model = fit_quietly(DeepLatentBlockCoclustering((3, 2), **FAST), X)
    assert (model.n_row_clusters_, model.n_column_clusters_) == (3, 2)
    assert not hasattr(model, "cluster_count_scores_")


@pytest.mark.parametrize("estimator", [DeepLatentBlockCoclustering, VariationalCoclustering])
def test_auto_refuses_several_facets(checkerboard, estimator):
    X, _, _ = checkerboard
    with pytest.raises(ValueError, match="n_clusters='auto'.*n_facets=2"):
        estimator("auto", n_facets=2).fit(X)


@pytest.mark.parametrize("estimator", [DeepLatentBlockCoclustering, VariationalCoclustering])
def test_n_clusters_refuses_other_strings(checkerboard, estimator):
    X, _, _ = checkerboard
    with pytest.raises(InvalidParameterError, match="n_clusters.*'auto'"):
        estimator("best").fit(X)


# ------------------------------------------------------------------ the held-out score
def _direct_bernoulli_log_likelihood(X, proportions, block, cols):
    """``log sum_l pi_l prod_j p(x_ij | B[l, c_j])``, cell by cell."""
    p = block[:, cols]  # (L, P)
    per_cluster = X @ np.log(p).T + (1 - X) @ np.log1p(-p).T + np.log(proportions)
    return np.logaddexp.reduce(per_cluster, axis=1)


def test_row_evidence_is_the_mixture_likelihood_of_each_row(checkerboard):
    X, rows, cols = checkerboard
    row_resp, column_resp = np.eye(3)[rows], np.eye(2)[cols]
    evidence = RowEvidence.fit(sp.csr_matrix(X[:200]), row_resp[:200], column_resp,
                               "bernoulli")
    direct = _direct_bernoulli_log_likelihood(X[200:], evidence.proportions,
                                              evidence.block, cols)
    assert np.allclose(evidence.log_likelihood(sp.csr_matrix(X[200:])), direct)


@pytest.mark.parametrize("likelihood, params", [
    ("bernoulli", CHECKERBOARD), ("poisson", [[2.0, 0.5], [0.5, 2.0], [1.5, 1.5]]),
    ("gaussian", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])])
def test_held_out_rows_score_the_truth_above_merged_clusters(likelihood, params):
    X, rows, cols = make_lbm(300, 200, (3, 2), block_params=params, likelihood=likelihood,
                             random_state=1)
    train, test = sp.csr_matrix(X[:200]), sp.csr_matrix(X[200:])

    def held_out(row_labels, column_labels):
        row_resp = np.eye(row_labels.max() + 1)[row_labels[:200]]
        column_resp = np.eye(column_labels.max() + 1)[column_labels]
        return RowEvidence.fit(train, row_resp, column_resp, likelihood).score(test)

    truth = held_out(rows, cols)
    assert truth > held_out(np.minimum(rows, 1), cols) + 0.01
    assert truth > held_out(rows, np.zeros(200, int)) + 0.01


def test_grid_search_by_score_finds_the_checkerboard(checkerboard):
    X, _, _ = checkerboard
    search = GridSearchCV(DeepLatentBlockCoclustering(**FAST),
                          {"n_clusters": [(1, 1), (2, 2), (3, 2)]},
                          cv=KFold(3, shuffle=True, random_state=0))
    fit_quietly(search, X)
    assert search.best_params_["n_clusters"] == (3, 2)
    scores = search.cv_results_["mean_test_score"]
    assert scores[2] > scores[1] + 0.01


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [DeepLatentBlockCoclustering, VariationalCoclustering])
def test_grid_search_by_score_finds_the_checkerboard_among_larger_counts(checkerboard,
                                                                         estimator):
    X, _, _ = checkerboard
    search = GridSearchCV(estimator(pretrain_epochs=50, max_iter=50, random_state=0),
                          {"n_clusters": [(1, 1), (2, 2), (3, 2), (3, 3), (4, 2), (4, 3)]},
                          cv=KFold(3, shuffle=True, random_state=0))
    fit_quietly(search, X)
    assert search.best_params_["n_clusters"] == (3, 2)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [DeepLatentBlockCoclustering, VariationalCoclustering])
def test_auto_recovers_full_size_planted_counts(estimator):
    X, rows, cols = make_lbm(1000, 800, (5, 4), block_params=diagonal(5, 4, 0.1, 0.2),
                             random_state=0)
    model = fit_quietly(estimator("auto", random_state=0), X)
    assert (model.n_row_clusters_, model.n_column_clusters_) == (5, 4)
