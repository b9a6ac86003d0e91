"""Several facets (n_facets): the decoder's facet sum, the per-facet prior, recovery of two
independent planted row partitions, the duplicate-facet warning and parameter checks."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._data.device import cell_data
from skcocluster._objective.reconstruction import reconstruction_term
from skcocluster._options.facets import facet_cluster_counts, warn_on_duplicate_facets
from skcocluster._refine.facets import (additive_natural_parameters, conditional_block_em,
                                        joint_codes)
from skcocluster._start.factorial import factorial_kmeans
from skcocluster._train.facets import fade_weights
from skcocluster._nn.decoders import LatentPositionDecoder
from skcocluster._nn.facet_mixture import FacetMixturePrior, facet_sq_distances
from skcocluster._likelihoods import make_likelihood
from skcocluster._nn.mixture import GaussianMixturePrior
from skcocluster.datasets import make_lbm, make_multi_facet_blocks

FAST = dict(pretrain_epochs=30, max_iter=30, hidden_dim=16, latent_dim=4, random_state=0)
# Enough training for recovery on a small matrix, quick enough for the test suite.
FACETS = dict(pretrain_epochs=150, max_iter=160, facet_fade_epochs=30, hidden_dim=32,
              latent_dim=4)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small matrices: a second thread only adds overhead (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


# ---------------------------------------------------------------- the decoder's facet sum
def test_faded_distance_is_the_weighted_sum_of_facet_distances():
    rng = np.random.default_rng(0)
    n_facets, facet_dim, alpha = 3, 2, 0.7
    rows = rng.normal(size=(6, n_facets * facet_dim))
    columns = rng.normal(size=(5, n_facets * facet_dim))
    weights = np.array([1.0, 0.3, 0.0])
    expected = alpha - sum(
        weights[j] * ((rows[:, None, j * facet_dim:(j + 1) * facet_dim]
                       - columns[None, :, j * facet_dim:(j + 1) * facet_dim]) ** 2).sum(2)
        for j in range(n_facets))

    prior = FacetMixturePrior([2, 3, 2], facet_dim, shared_variance=True, var_floor=1e-6)
    prior.weights.copy_(torch.as_tensor(weights))
    decoder = LatentPositionDecoder(alpha)
    rows_t = torch.as_tensor(rows, dtype=torch.float64)
    columns_t = torch.as_tensor(columns, dtype=torch.float64)
    with torch.no_grad():
        logits = decoder.block_logits(prior.scale_positions(rows_t),
                                      prior.scale_positions(columns_t))
        per_facet = facet_sq_distances(rows_t, columns_t, n_facets)
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alpha - np.tensordot(weights, per_facet.numpy(), 1), expected,
                               rtol=1e-6, atol=1e-8)

    # the reconstruction term then is the Bernoulli log-likelihood of those logits
    values = (rng.random((6, 5)) < 0.4).astype(float)
    with torch.no_grad():
        recon = reconstruction_term(
            decoder, make_likelihood("bernoulli"), prior.scale_positions(rows_t.float()),
            prior.scale_positions(columns_t.float()),
            cell_data(sp.csr_matrix(values), "cpu", True))
    direct = (values * expected - np.logaddexp(0.0, expected)).sum()
    np.testing.assert_allclose(float(recon), direct, rtol=1e-5)


def test_facet_prior_is_the_weighted_sum_of_one_mixture_per_facet():
    torch.manual_seed(0)
    counts, facet_dim = [2, 3], 3
    prior = FacetMixturePrior(counts, facet_dim, shared_variance=False, var_floor=1e-6)
    prior.weights.copy_(torch.tensor([1.0, 0.4]))
    mean, log_var = torch.randn(20, 6, dtype=torch.float64), torch.randn(20).double() - 2
    prior.double()
    singles = [GaussianMixturePrior(k, facet_dim, shared_variance=False,
                                    var_floor=1e-6).double() for k in counts]
    resp = prior.explicit_step(mean, log_var)
    for j, single in enumerate(singles):
        block = mean[:, j * facet_dim:(j + 1) * facet_dim]
        torch.testing.assert_close(resp[j], single.explicit_step(block, log_var))
        torch.testing.assert_close(prior.facets[j].means, single.means)
    expected = sum(w * single.prior_terms(r, mean[:, j * facet_dim:(j + 1) * facet_dim],
                                          log_var)
                   for j, (w, single, r) in enumerate(zip([1.0, 0.4], singles, resp)))
    torch.testing.assert_close(prior.prior_terms(resp, mean, log_var), expected)
    # facet 1 behind the single-mixture interface
    torch.testing.assert_close(prior.responsibilities(mean, log_var),
                               singles[0].responsibilities(mean[:, :facet_dim], log_var))


def test_fade_in_schedule():
    # facet 1 trains alone in pretraining; facet 2 ramps over epochs 0-9, facet 3 10-19
    np.testing.assert_allclose(fade_weights(0, 3, 10), [1.0, 0.1, 0.0])
    np.testing.assert_allclose(fade_weights(9, 3, 10), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(fade_weights(10, 3, 10), [1.0, 1.0, 0.1])
    np.testing.assert_allclose(fade_weights(19, 3, 10), [1.0, 1.0, 1.0])


def test_factorial_kmeans_separates_crossed_partitions():
    # points on a 3 x 2 grid in orthogonal directions, the b direction the wider: plain
    # k-means with 3 clusters splits along b first; the factorial one finds both.
    rng = np.random.default_rng(0)
    a, b = rng.integers(3, size=300), rng.integers(2, size=300)
    points = np.zeros((300, 4))
    points[:, 0], points[:, 1] = np.cos(2 * np.pi * a / 3), np.sin(2 * np.pi * a / 3)
    points[:, 2] = 3.0 * b
    points += 0.1 * rng.normal(size=points.shape)
    labels = factorial_kmeans(points, [3, 2], seed=0)
    assert adjusted_rand_score(a, labels[0]) == 1.0
    assert adjusted_rand_score(b, labels[1]) == 1.0


def test_additive_natural_parameters_solve_the_likelihood_equations():
    # theta[k, s, q] = a[k, q] + b[s, q]: at the maximum of the Bernoulli likelihood the
    # expected sums match the observed ones summed over s (for each k, q) and over k
    rng = np.random.default_rng(2)
    counts = rng.integers(20, 200, size=(3, 4, 5)).astype(float)
    sums = rng.binomial(counts.astype(int), rng.uniform(0.05, 0.6, size=counts.shape))
    a, b = additive_natural_parameters(sums.astype(float), counts, np.zeros((3, 5)),
                                       np.zeros((4, 5)), "bernoulli", n_steps=200)
    expected = counts / (1 + np.exp(-(a[:, None, :] + b[None, :, :])))
    np.testing.assert_allclose(expected.sum(1), sums.sum(1), rtol=1e-6)
    np.testing.assert_allclose(expected.sum(0), sums.sum(0), rtol=1e-6)


def test_conditional_block_em_step_matches_direct_computation():
    # one EM iteration of a facet's row memberships given the rows' other-facet labels
    # (the context) and the columns' clusters
    rng = np.random.default_rng(1)
    values = (rng.random((12, 7)) < 0.4).astype(float)
    resp = rng.dirichlet(np.ones(2), size=12)
    context = np.array([0, 1, 2] * 4)
    column_codes = joint_codes(np.array([[0, 0, 1, 1, 2, 2, 2], [1, 1, 0, 0, 1, 1, 1]]))
    np.testing.assert_array_equal(column_codes, [0, 0, 1, 1, 2, 2, 2])
    other = np.eye(3)[column_codes]
    new, log_likelihood = conditional_block_em(sp.csr_matrix(values), resp, context, other,
                                               "bernoulli", n_iter=1)
    # M step: block sums and cell counts, weighted by the memberships, then the additive fit
    sums, counts = np.zeros((2, 3, 3)), np.zeros((2, 3, 3))
    for i in range(12):
        for c in range(7):
            sums[:, context[i], column_codes[c]] += resp[i] * values[i, c]
            counts[:, context[i], column_codes[c]] += resp[i]
    base = np.log(values.mean() / (1 - values.mean()))
    a, b = additive_natural_parameters(sums, counts, np.full((2, 3), base), np.zeros((3, 3)),
                                       "bernoulli")
    block = 1 / (1 + np.exp(-(a[:, None, :] + b[None, :, :])))
    pi = resp.mean(0)
    logits = np.array([[np.log(pi[k]) + sum(
        values[i, c] * np.log(block[k, context[i], column_codes[c]])
        + (1 - values[i, c]) * np.log(1 - block[k, context[i], column_codes[c]])
        for c in range(7)) for k in range(2)] for i in range(12)])
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(new, expected, rtol=1e-8)
    # the marginal likelihood (the cells' own terms are all in the logits here)
    assert log_likelihood == pytest.approx(
        float(np.sum(np.log(np.exp(logits).sum(1)))), rel=1e-10)


# ---------------------------------------------------------------- one facet is the plain model
def test_one_facet_is_the_plain_model():
    X, _, _ = make_lbm(120, 80, 3, block_params=np.full((3, 3), 0.1) + 0.5 * np.eye(3),
                       random_state=0)
    plain = fit_quietly(DeepLatentBlockCoclustering(3, **FAST), X)
    one = fit_quietly(DeepLatentBlockCoclustering(3, n_facets=1, facet_fade_epochs=7, **FAST),
                      X)
    np.testing.assert_array_equal(plain.row_labels_, one.row_labels_)
    np.testing.assert_array_equal(plain.column_labels_, one.column_labels_)
    np.testing.assert_array_equal(plain.row_embedding_, one.row_embedding_)
    assert plain.lower_bound_ == one.lower_bound_
    np.testing.assert_array_equal(plain.elbo_history_, one.elbo_history_)
    assert one.row_labels_facets_.shape == (1, 120)
    np.testing.assert_array_equal(one.row_labels_facets_[0], one.row_labels_)
    assert one.facet_row_ari_.shape == (1, 1)


# ---------------------------------------------------------------- two planted partitions
def matched_ari(truths, found):
    """ARI of each truth with the facet matched to it (best one-to-one matching)."""
    table = np.array([[adjusted_rand_score(t, f) for f in found] for t in truths])
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols]


@pytest.mark.parametrize("data, n_clusters", [
    # diagonal blocks: 3 row groups over one half of the columns, 2 over the other; one
    # int per facet
    (dict(n_rows=300, n_cols=240, n_clusters=(3, 2), p_in=0.4, p_out=0.1, random_state=1),
     [3, 2]),
    # non-diagonal block tables (two row groups share a profile on one column cluster),
    # the same int for both facets
    (dict(n_rows=300, n_cols=240, n_clusters=(3, 3), random_state=2,
          block_params=[[[0.1, 0.45, 0.2], [0.4, 0.1, 0.1], [0.1, 0.15, 0.5]],
                        [[0.45, 0.1], [0.1, 0.4], [0.45, 0.45]]]),
     3),
    # non-diagonal tables where two row groups of facet 2 differ by a shift on both of its
    # column clusters ([0.1, 0.3] and [0.25, 0.45]): the deep model merges them (facet 2
    # at ARI 0.49-0.72, benchmarks/README.md); block_refinement (the default) refines each
    # facet given the other and finds them
    (dict(n_rows=600, n_cols=400, n_clusters=(3, 3), random_state=1,
          block_params=[[[0.1, 0.4, 0.2], [0.35, 0.1, 0.1], [0.1, 0.15, 0.45]],
                        [[0.4, 0.1], [0.1, 0.3], [0.25, 0.45]]]),
     [3, 3]),
    # the facet with fewer clusters first, explicit (rows, columns) pairs
    (dict(n_rows=300, n_cols=240, n_clusters=(2, 3), p_in=0.4, p_out=0.1, random_state=3),
     [(2, 3), (3, 4)]),
])
def test_two_facets_recover_two_independent_partitions(data, n_clusters):
    X, row_truths, _ = make_multi_facet_blocks(**data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", UserWarning)
        model = DeepLatentBlockCoclustering(n_clusters, n_facets=2, random_state=0,
                                            **FACETS).fit(X)
    # each planted partition is found by one facet
    assert np.all(matched_ari(row_truths, model.row_labels_facets_) >= 0.9)
    # the sklearn surface is facet 1
    np.testing.assert_array_equal(model.row_labels_, model.row_labels_facets_[0])
    np.testing.assert_array_equal(model.column_labels_, model.column_labels_facets_[0])
    np.testing.assert_array_equal(model.row_memberships_, model.row_memberships_facets_[0])
    # both facets are alive and distinct
    assert np.all(model.row_facet_kl_ > 0.5)
    assert abs(model.facet_row_ari_[0, 1]) < 0.2
    assert model.facet_row_ari_[0, 1] == pytest.approx(adjusted_rand_score(
        model.row_labels_facets_[0], model.row_labels_facets_[1]))
    assert model.row_embedding_.shape == (X.shape[0], 2 * FACETS["latent_dim"])


def test_two_facet_model_predicts_scores_and_pickles():
    X, _, _ = make_multi_facet_blocks(90, 60, (2, 2), p_in=0.5, random_state=0)
    model = fit_quietly(DeepLatentBlockCoclustering(
        [2, (2, 3)], n_facets=2, facet_fade_epochs=5, block_refinement=False, **FAST), X)
    assert [m.shape[1] for m in model.row_memberships_facets_] == [2, 2]
    # facet 1's int entry: 2 column clusters paired with the row clusters, plus one
    assert [m.shape[1] for m in model.column_memberships_facets_] == [3, 3]
    assert model.rows_.shape == (2, 90) and model.columns_.shape == (2, 60)
    unpaired = model.column_labels_ == 2  # the extra column cluster is in no bicluster
    assert not model.columns_[:, unpaired].any()
    assert (model.columns_[:, ~unpaired].sum(0) == 1).all()
    np.testing.assert_allclose(model.predict_proba(X), model.row_memberships_, atol=1e-5)
    np.testing.assert_allclose(model.predict_column_proba(X), model.column_memberships_,
                               atol=1e-5)
    assert np.isfinite(model.score(X))
    assert model.transform(X).shape == (90, 2 * FAST["latent_dim"])
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))


# ---------------------------------------------------------------- duplicate facets
def test_warns_when_two_facets_find_the_same_partition():
    rng = np.random.default_rng(0)
    labels = rng.integers(3, size=200)
    permuted = np.array([2, 0, 1])[labels]
    with pytest.warns(ConvergenceWarning, match="Facets 1 and 2 found the same row partition"):
        ari = warn_on_duplicate_facets([labels, permuted])
    assert ari[0, 1] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_on_duplicate_facets([labels, rng.integers(3, size=200)])  # independent
        warn_on_duplicate_facets([np.zeros(200, int), np.zeros(200, int)])  # uninformative


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize("params, message", [
    (dict(n_facets=0), "n_facets"),
    (dict(n_facets=1.5), "n_facets"),
    (dict(n_facets=2, facet_fade_epochs=0), "facet_fade_epochs"),
    (dict(n_facets=2, n_clusters=[2, 2, 2]), "one entry per facet"),
    (dict(n_facets=2, n_clusters=[2, 0]), "facet 2"),
    (dict(n_facets=2, n_clusters=[(2, 2, 2), 2]), "facet 1"),
    (dict(n_facets=2, n_clusters=[2, "two"]), "facet 2"),
    (dict(n_facets=3, facet_fade_epochs=20, max_iter=30), "max_iter=30 is too small"),
    (dict(n_facets=2, n_clusters=[2, 50]), "row clusters but X has only 30 rows"),
])
def test_bad_facet_parameters_raise_clear_errors(params, message):
    X = (np.random.default_rng(0).random((30, 20)) < 0.3).astype(float)
    model = DeepLatentBlockCoclustering(**{**dict(n_clusters=2, pretrain_epochs=2, max_iter=60,
                                                  facet_fade_epochs=5), **params})
    with pytest.raises(ValueError, match=message):
        model.fit(X)


def test_cluster_counts_per_facet():
    # an int k: k row clusters, k paired column clusters and one of unaffected columns
    assert facet_cluster_counts(3, 2) == ([(3, 4), (3, 4)], True)
    assert facet_cluster_counts((3, 4), 2) == ([(3, 4), (3, 4)], False)
    assert facet_cluster_counts([(3, 4), 2], 2) == ([(3, 4), (2, 3)], False)
    assert facet_cluster_counts([2, (3, 4)], 2) == ([(2, 3), (3, 4)], True)
