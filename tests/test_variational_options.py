"""The options of DeepLatentBlockCoclustering that VariationalCoclustering offers too:
``graph_weight`` (with ``n_neighbors`` and ``fit(X, row_graph=G)``) and ``n_facets``.

The mini-batch estimate of the graph term against a direct computation, then the estimator:
off by default and untouched when off, in the objective when on, the input checks, and
recovery of a clear planted structure. Then the facets: the prior, two planted partitions
found one per facet, one facet as the plain model, the duplicate warning, the checks.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.optimize import linear_sum_assignment
from scipy.special import xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import skcocluster._objective.variational
import skcocluster._options.wiring
from skcocluster import VariationalCoclustering
from skcocluster._data.validation import as_csr
from skcocluster._objective.graph import (GRAPH_LOG_VAR_FLOOR, Edges, GraphRegulariser,
                                         batch_graph_divergence, graph_divergence,
                                         symmetric_gaussian_kl)
from skcocluster._options.neighbour_graph import neighbour_graphs
from skcocluster._likelihoods import make_likelihood
from skcocluster._data.variational import epoch_batches, gather, prepare_data, side_data
from skcocluster._nn.vae import LearntFacetMixture
from skcocluster._objective.variational import GraphTerm, graph_term, objective_terms
from skcocluster._objective.variational_step import StepContext
from skcocluster._start.mixtures import column_facet_labels
from skcocluster._start.variational import build_model
from skcocluster.datasets import make_lbm, make_multi_facet_blocks
from skcocluster.metrics import coclustering_adjusted_rand_score as cari

FAST = dict(pretrain_epochs=5, max_iter=5, hidden_dim=16, latent_dim=4, batch_size=64,
            cells_per_batch=256, n_samples=3, random_state=0)
# Enough training to recover a clear structure (tests of quality, not of plumbing).
RECOVERY = dict(pretrain_epochs=10, max_iter=30, hidden_dim=32, latent_dim=4, batch_size=100,
                cells_per_batch=512, n_samples=3, block_refinement=False, random_state=0)


# Few epochs never converge; the warning is tested in tests/test_variational.py.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def clear_data():
    blocks = np.full((3, 3), 0.1) + 0.6 * np.eye(3)
    return make_lbm(150, 100, 3, block_params=blocks, random_state=0)


@pytest.fixture(scope="module")
def fitted(clear_data):
    return VariationalCoclustering(3, **FAST).fit(clear_data[0])


@pytest.fixture(scope="module")
def fitted_with_graph(clear_data):
    return VariationalCoclustering(3, graph_weight=1.0, n_neighbors=5, **FAST).fit(
        clear_data[0])


# ---------------------------------------------------------------- the mini-batch estimate
def test_diagonal_symmetric_kl_matches_direct_computation_with_the_floor():
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    log_var_a = rng.normal(size=(4, 3)) + 0.5
    log_var_b = rng.normal(size=(4, 3)) + 0.5
    log_var_a[0, 1] = -4.0  # under the floor
    value = symmetric_gaussian_kl(*(torch.as_tensor(a) for a in (mean_a, log_var_a, mean_b,
                                                                 log_var_b)))
    var_a = np.exp(np.maximum(log_var_a, GRAPH_LOG_VAR_FLOOR))
    var_b = np.exp(np.maximum(log_var_b, GRAPH_LOG_VAR_FLOOR))

    def kl(m1, v1, m2, v2):  # KL(N(m1, diag v1) || N(m2, diag v2))
        return 0.5 * np.sum(v1 / v2 + (m1 - m2) ** 2 / v2 - 1 + np.log(v2 / v1))

    expected = [kl(mean_a[i], var_a[i], mean_b[i], var_b[i])
                + kl(mean_b[i], var_b[i], mean_a[i], var_a[i]) for i in range(4)]
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-10)
    # A diagonal with equal entries is the isotropic case.
    same = [torch.as_tensor(a) for a in (mean_a, log_var_a[:, :1], mean_b, log_var_b[:, :1])]
    isotropic = symmetric_gaussian_kl(same[0], same[1][:, 0], same[2], same[3][:, 0])
    diagonal = symmetric_gaussian_kl(same[0], same[1].expand(-1, 3), same[2],
                                     same[3].expand(-1, 3))
    np.testing.assert_allclose(diagonal.numpy(), isotropic.numpy(), rtol=1e-12)


def test_edges_leaving_a_batch_are_those_of_its_rows():
    graph = sp.csr_matrix(np.array([[0, .5, .5, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0],
                                    [0, 0, .3, 0, .7], [0, 0, 0, 1, 0]]))
    edges = Edges.from_sparse(graph, "cpu")
    sub, nodes = edges.leaving(torch.tensor([3, 0, 2]))
    found = {(int(nodes[s]), int(nodes[t]), round(float(w), 6))
             for s, t, w in zip(sub.source, sub.target, sub.weight)}
    assert found == {(0, 1, .5), (0, 2, .5), (3, 2, .3), (3, 4, .7)}
    assert nodes.tolist() == [0, 1, 2, 3, 4]
    empty, nodes = edges.leaving(torch.tensor([2]))
    assert empty.weight.numel() == 0 and nodes.numel() == 0


def tiny_setup(X, graph_weight=1.0, n_neighbors=4):
    csr = as_csr(X)
    estimator = VariationalCoclustering(3, graph_weight=graph_weight, n_neighbors=n_neighbors,
                                        **FAST)
    estimator.likelihood_ = "bernoulli"
    config = estimator._config(3, 3)
    rows, columns = neighbour_graphs(csr, n_neighbors, 0)
    config.graph = GraphRegulariser(graph_weight, Edges.from_sparse(rows, "cpu"),
                                    Edges.from_sparse(columns, "cpu"))
    data = prepare_data(csr, config, torch.device("cpu"), 0)
    model = build_model(data, config, 0, "cpu")
    ctx = StepContext(data, config, make_likelihood("bernoulli"),
                      torch.Generator().manual_seed(0), "cpu")
    return model, data, config, ctx, (rows, columns)


def direct_graph_term(model, data_side, side, graph, ids):
    """``sum_{i in ids} sum_j w_ij [SKL + JS]`` by a loop in numpy, scaled to the side."""
    vae = model.side(side)
    with torch.no_grad():
        mean, log_var = vae.encoder(gather(data_side, torch.arange(data_side.n_vectors)))
        resp = vae.prior.responsibilities(mean).double().numpy()
    mean, var = mean.double().numpy(), np.exp(np.maximum(log_var.double().numpy(),
                                                         GRAPH_LOG_VAR_FLOOR))
    total = 0.0
    for i in ids:
        for j, w in zip(graph[i].indices, graph[i].data):
            skl = 0.5 * np.sum(var[i] / var[j] + var[j] / var[i] - 2
                               + (mean[i] - mean[j]) ** 2 * (1 / var[i] + 1 / var[j]))
            middle = (resp[i] + resp[j]) / 2
            js = 0.5 * (np.sum(xlogy(resp[i], resp[i]) - xlogy(resp[i], middle))
                        + np.sum(xlogy(resp[j], resp[j]) - xlogy(resp[j], middle)))
            total += w * (skl + js)
    return total * data_side.n_vectors / len(ids)


def test_batch_graph_term_matches_a_direct_computation(clear_data):
    X = clear_data[0][:30, :20]
    model, data, config, ctx, (rows, columns) = tiny_setup(X)
    row_ids, column_ids = torch.tensor([0, 7, 12, 29]), torch.tensor([3, 4, 19])
    with torch.no_grad():
        value = float(graph_term(model, ctx, config.graph, row_ids, column_ids))
    expected = (direct_graph_term(model, data.rows, "row", rows, row_ids.tolist())
                + direct_graph_term(model, data.columns, "column", columns,
                                    column_ids.tolist()))
    assert expected > 0
    assert value == pytest.approx(expected, rel=1e-4)


def test_an_epoch_of_batches_adds_up_to_the_full_term(clear_data):
    X = clear_data[0][:60, :40]
    model, data, config, _, _ = tiny_setup(X)
    vae = model.rows

    def posteriors_of(nodes):
        mean, log_var = vae.encoder(gather(data.rows, nodes))
        return mean, log_var, vae.prior.responsibilities(mean)

    with torch.no_grad():
        full = float(graph_divergence(config.graph.rows, *posteriors_of(torch.arange(60))))
        batches = epoch_batches(60, 40, 16, torch.Generator().manual_seed(1), "cpu")
        # Unscaled (each batch's share, n_ids / n_nodes, undone), the sums cover each edge once.
        pieces = [float(batch_graph_divergence(config.graph.rows, ids, 60, posteriors_of))
                  * ids.numel() / 60 for ids, _ in batches]
    assert full > 0
    assert sum(pieces) == pytest.approx(full, rel=1e-5)


def test_the_graph_term_trains_the_batch_and_its_neighbours(clear_data):
    X = clear_data[0][:30, :20]
    model, _, config, ctx, (rows, _) = tiny_setup(X)
    row_ids = torch.tensor([0, 1])
    graph_term(model, ctx, config.graph, row_ids, row_ids[:0]).backward()
    first_layer = model.rows.encoder.first.weight.weight.grad
    assert first_layer is not None and float(first_layer.abs().sum()) > 0
    assert model.rows.prior.means.grad is not None
    # Nothing of the column side enters a step without columns.
    assert model.columns.encoder.first.weight.weight.grad is None


def test_the_graph_weight_warms_up_in_training_and_is_reported_in_full(clear_data):
    X = clear_data[0][:30, :20]
    _, _, config, _, _ = tiny_setup(X, graph_weight=2.0)
    term = GraphTerm(config.graph)
    assert term.warms_up
    assert term.weight(0) == 0.0
    assert term.weight(config.graph.warmup_epochs) == -2.0
    assert term.weight(None) == term.full_weight() == -2.0


# ---------------------------------------------------------------- the estimator
def test_graph_weight_zero_leaves_the_fit_untouched(clear_data, fitted, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the graph code ran with graph_weight=0")

    monkeypatch.setattr(skcocluster._options.wiring, "neighbour_graphs", fail)
    monkeypatch.setattr(skcocluster._objective.variational, "batch_graph_divergence", fail)
    again = VariationalCoclustering(3, graph_weight=0.0, n_neighbors=3, **FAST).fit(
        clear_data[0])
    assert again.lower_bound_ == fitted.lower_bound_
    np.testing.assert_array_equal(again.elbo_history_, fitted.elbo_history_)
    np.testing.assert_array_equal(again.row_memberships_, fitted.row_memberships_)
    np.testing.assert_array_equal(again.column_embedding_, fitted.column_embedding_)
    assert "graph_divergence" not in again.objective_terms_


def test_graph_weight_enters_the_objective(fitted, fitted_with_graph):
    terms = fitted_with_graph.objective_terms_
    assert terms["graph_divergence"] > 0
    assert fitted_with_graph.lower_bound_ != fitted.lower_bound_
    assert not np.array_equal(fitted_with_graph.row_embedding_, fitted.row_embedding_)
    # The final objective is the weighted sum of its terms, the graph term at full weight.
    config = fitted_with_graph._config(3, 3)
    weights = {**{term.name: term.full_weight() for term in objective_terms(config)},
               "graph_divergence": -1.0}
    assert fitted_with_graph.lower_bound_ == pytest.approx(
        sum(weights[name] * value for name, value in terms.items()), rel=1e-5)
    assert np.all(np.isfinite(fitted_with_graph.row_memberships_))


@pytest.mark.parametrize("graph, message", [
    (sp.eye(5), "shape"),
    (np.ones(150), "2-D"),
    (sp.csr_matrix(np.ones((150, 150))) - 2 * sp.eye(150, format="csr"), "negative"),
    (np.full((150, 150), np.nan), "NaN"),
])
def test_bad_row_graph_raises_a_clear_value_error(graph, message, clear_data):
    model = VariationalCoclustering(3, graph_weight=1.0, **FAST)
    with pytest.raises(ValueError, match=message):
        model.fit(clear_data[0], row_graph=graph)


def test_row_graph_needs_graph_weight(clear_data):
    with pytest.raises(ValueError, match="set graph_weight > 0"):
        VariationalCoclustering(3, **FAST).fit(clear_data[0], row_graph=sp.eye(150))


@pytest.mark.parametrize("params, name", [
    (dict(graph_weight=-0.1), "graph_weight"),
    (dict(n_neighbors=0), "n_neighbors"),
])
def test_bad_graph_parameters_are_named(params, name, clear_data):
    with pytest.raises(ValueError, match=name):
        VariationalCoclustering(3, **{**FAST, **params}).fit(clear_data[0])


def test_a_user_row_graph_replaces_the_knn_graph(clear_data, fitted_with_graph):
    X, rows, _ = clear_data
    same = sp.csr_matrix((rows[:, None] == rows[None, :]).astype(float))
    model = VariationalCoclustering(3, graph_weight=1.0, n_neighbors=5, **FAST)
    positions = model.fit_transform(X, row_graph=same)  # forwarded by fit_transform
    assert positions.shape == (150, 4)
    assert model.lower_bound_ != fitted_with_graph.lower_bound_


@pytest.fixture(scope="module")
def planted():
    blocks = 0.1 + 0.4 * np.eye(3)
    return make_lbm(300, 200, 3, block_params=blocks, random_state=2)


@pytest.mark.parametrize("graph_weight", [0.0, 1.0])
def test_graph_weight_keeps_recovery_of_a_clear_structure(graph_weight, planted):
    X, rows, cols = planted
    model = VariationalCoclustering(3, graph_weight=graph_weight, **RECOVERY).fit(X)
    assert cari(rows, cols, model.row_labels_, model.column_labels_) >= 0.95


# ---------------------------------------------------------------- several facets
FACETS = dict(pretrain_epochs=10, max_iter=30, hidden_dim=32, latent_dim=4, batch_size=100,
              random_state=0)


def matched_ari(truths, found):
    """ARI of each truth with the facet matched to it (best one-to-one matching)."""
    table = np.array([[adjusted_rand_score(t, f) for f in found] for t in truths])
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols]


def test_facet_prior_is_the_sum_of_one_mixture_per_facet():
    torch.manual_seed(0)
    prior = LearntFacetMixture([3, 2], 2)
    z = torch.randn(5, 4)
    expected = (prior.facets[0].log_prob(z[:, :2]) + prior.facets[1].log_prob(z[:, 2:]))
    torch.testing.assert_close(prior.log_prob(z), expected)
    torch.testing.assert_close(prior.responsibilities(z),
                               prior.facets[0].responsibilities(z[:, :2]))
    assert [r.shape for r in prior.facet_responsibilities(z)] == [(5, 3), (5, 2)]
    assert prior.means is prior.facets[0].means


@pytest.fixture(scope="module")
def two_partitions():
    return make_multi_facet_blocks(300, 240, (3, 2), p_in=0.4, p_out=0.1, random_state=1)


def test_column_facets_follow_the_row_facets(two_partitions):
    X, row_truths, column_truths = two_partitions
    columns = side_data(sp.csr_matrix(X.T), "cpu")
    # facet j's column labels come from the columns' profiles over row facet j's clusters,
    # so that column facet j pairs with row facet j (whatever order a k-means would give)
    labels = column_facet_labels(columns, row_truths, [4, 3], 0)
    for truth, found in zip(column_truths, labels):
        assert adjusted_rand_score(truth, found) >= 0.9
    swapped = column_facet_labels(columns, row_truths[::-1], [3, 4], 0)
    for truth, found in zip(column_truths[::-1], swapped):
        assert adjusted_rand_score(truth, found) >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("refinement", [False, True])
def test_two_facets_each_find_one_planted_partition(refinement, two_partitions):
    X, row_truths, _ = two_partitions
    model = VariationalCoclustering([3, 2], n_facets=2, block_refinement=refinement,
                                    **FACETS).fit(X)
    assert np.all(matched_ari(row_truths, model.row_labels_facets_) >= 0.9)
    assert abs(model.facet_row_ari_[0, 1]) < 0.2
    # the sklearn surface is facet 1
    np.testing.assert_array_equal(model.row_labels_, model.row_labels_facets_[0])
    np.testing.assert_array_equal(model.column_labels_, model.column_labels_facets_[0])
    np.testing.assert_array_equal(model.row_memberships_, model.row_memberships_facets_[0])
    assert [m.shape[1] for m in model.row_memberships_facets_] == [3, 2]
    # an int per facet: its column clusters plus one for the columns it does not affect
    assert [m.shape[1] for m in model.column_memberships_facets_] == [4, 3]
    assert model.row_embedding_.shape == (300, 2 * FACETS["latent_dim"])
    assert model.predict_proba(X[:7]).shape == (7, 3)


def test_one_facet_is_the_plain_model(clear_data, fitted):
    model = VariationalCoclustering(3, n_facets=1, **FAST).fit(clear_data[0])
    np.testing.assert_array_equal(model.row_memberships_, fitted.row_memberships_)
    np.testing.assert_array_equal(model.row_labels_facets_, fitted.row_labels_[None])
    np.testing.assert_array_equal(model.facet_row_ari_, [[1.0]])


def test_warns_when_two_facets_find_the_same_partition(two_partitions, monkeypatch):
    X, _, _ = two_partitions

    def same_partition_twice(prior, z):
        first = prior.facets[0].responsibilities(prior.block(z, 0))
        return [first, first]

    monkeypatch.setattr(LearntFacetMixture, "facet_responsibilities", same_partition_twice)
    model = VariationalCoclustering([3, 3], n_facets=2, block_refinement=False,
                                    **{**FACETS, "max_iter": 2})
    with pytest.warns(ConvergenceWarning, match="Facets 1 and 2 found the same row partition"):
        model.fit(X)


@pytest.mark.parametrize("params, message", [
    (dict(n_facets=0), "n_facets"),
    (dict(n_clusters=[3, 2, 2], n_facets=2), "one entry per facet"),
    (dict(n_clusters=[3, (2, 0)], n_facets=2), "facet 2"),
])
def test_bad_facet_parameters_raise_clear_errors(params, message, clear_data):
    with pytest.raises(ValueError, match=message):
        VariationalCoclustering(**{**FAST, "n_clusters": 3, **params}).fit(clear_data[0])
