"""The optional objectives: ``clustering='module'`` and ``graph_weight`` (with ``row_graph``).

Each loss and update against a direct numpy computation on a tiny example, then recovery
of planted blocks with each option, then the input checks.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import SpectralCoclustering
from sklearn.exceptions import ConvergenceWarning

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._train.clustering_module import warm_up
from skcocluster._objective.graph import (GRAPH_LOG_VAR_FLOOR, Edges, GraphRegulariser,
                                          graph_divergence, jensen_shannon, symmetric_gaussian_kl)
from skcocluster._options.neighbour_graph import check_row_graph, knn_graph, neighbour_graphs
from skcocluster._nn.clustering_module import ClusteringModule
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score as cari

FAST = dict(pretrain_epochs=60, max_iter=60, hidden_dim=16, latent_dim=4, random_state=0)


def diagonal_blocks(k, background, lift):
    return np.full((k, k), background) + lift * np.eye(k)


def fit_quietly(model, X, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **fit_params)


@pytest.fixture(scope="module")
def clear_data():
    return make_lbm(240, 160, 3, block_params=diagonal_blocks(3, 0.1, 0.5), random_state=1)


# ---------------------------------------------------------------- the clustering module
def tiny_module(rng, n_clusters=3, latent_dim=4, concentration=2.5, orthonormality=0.3):
    module = ClusteringModule(n_clusters, latent_dim, concentration=concentration,
                              orthonormality=orthonormality)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.as_tensor(rng.normal(size=parameter.shape)))
        module.centre.copy_(torch.as_tensor(rng.normal(size=latent_dim)))
        module.scale.fill_(0.7)
    return module


def test_module_loss_matches_direct_computation():
    rng = np.random.default_rng(0)
    module = tiny_module(rng)
    positions = rng.normal(size=(7, 4))
    loss, memberships = module.loss(torch.as_tensor(positions, dtype=torch.float32))

    w_enc, b_enc, w_dec, b_dec = (p.detach().double().numpy() for p in (
        module.encoder_weight, module.encoder_bias, module.decoder_weight, module.decoder_bias))
    z = (positions - module.centre.double().numpy()) * 0.7
    logits = z @ w_enc + b_enc
    g = np.exp(logits - logits.max(1, keepdims=True))
    g /= g.sum(1, keepdims=True)
    centroids = w_dec + b_dec
    distortion = sum(g[i, k] * np.sum((z[i] - centroids[k]) ** 2)
                     for i in range(7) for k in range(3))
    balance = 7 * np.sum((1 - 2.5) * np.log(g.mean(0)))
    orthonormal = 7 * 0.3 * np.abs(w_dec @ w_dec.T - np.eye(3)).sum()
    np.testing.assert_allclose(memberships.detach().double().numpy(), g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(loss.detach()), distortion + balance + orthonormal, rtol=1e-5)


def test_module_start_is_kmeans_with_a_pseudo_inverse_encoder():
    rng = np.random.default_rng(1)
    centres = np.array([[3.0, 0, 0], [0, 3.0, 0], [-3.0, -3.0, 0]])
    points = np.vstack([c + 0.1 * rng.normal(size=(20, 3)) for c in centres])
    module = ClusteringModule(3, 3, concentration=2.0, orthonormality=0.0)
    module.initialise(torch.as_tensor(points, dtype=torch.float32), seed=0)
    standardised = (points - points.mean(0)) / np.sqrt(((points - points.mean(0)) ** 2).mean())
    np.testing.assert_allclose(module.standardise(torch.as_tensor(
        points, dtype=torch.float32)).numpy(), standardised, rtol=1e-4, atol=1e-5)
    centroids = module.centroids().detach().double().numpy()
    # Each k-means centroid is the mean of one planted group (in some order).
    group_means = standardised.reshape(3, 20, 3).mean(1)
    distance = ((centroids[:, None] - group_means[None]) ** 2).sum(-1)
    assert np.sort(distance.min(1)).max() < 1e-8
    # The encoder maps centroid k to the logits e_k, so each group's argmax is its centroid.
    logits = centroids @ module.encoder_weight.detach().double().numpy() + \
        module.encoder_bias.detach().double().numpy()
    np.testing.assert_allclose(logits, np.eye(3), atol=1e-4)
    labels = module.memberships(torch.as_tensor(points, dtype=torch.float32)).argmax(1)
    assert len(set(labels.reshape(3, 20).numpy()[:, 0])) == 3


def test_warm_up_lowers_the_module_loss_and_sharpens_memberships():
    rng = np.random.default_rng(2)
    points = torch.as_tensor(np.vstack([c + 0.3 * rng.normal(size=(30, 4)) for c in
                                        np.eye(4)[:3] * 2]), dtype=torch.float32)

    modules = []
    for _ in range(2):
        modules.append(ClusteringModule(3, 4, concentration=2.0, orthonormality=0.01))
        modules[-1].initialise(points, seed=0)
    model = torch.nn.Module()
    model.row_clustering, model.column_clustering = modules
    before = float(model.row_clustering.loss(points)[0].detach())
    sharpness = float(model.row_clustering.memberships(points).max(1).values.mean().detach())
    warm_up(model, points, points, steps=50)
    assert float(model.row_clustering.loss(points)[0].detach()) < before
    assert float(model.row_clustering.memberships(points).max(1).values.mean().detach()) > sharpness


# ---------------------------------------------------------------- the graph regulariser
def test_symmetric_kl_matches_direct_computation_with_the_floor():
    rng = np.random.default_rng(3)
    mean_a, mean_b = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    log_var_a = np.array([0.5, -3.0, 1.0, 0.2, 2.0])  # -3 is under the floor
    log_var_b = np.array([1.5, 0.3, -1.0, 0.2, 0.0])
    value = symmetric_gaussian_kl(*(torch.as_tensor(a, dtype=torch.float64) for a in (
        mean_a, log_var_a, mean_b, log_var_b)))

    def kl(m1, v1, m2, v2):  # KL(N(m1, v1 I) || N(m2, v2 I)) in 3 dimensions
        return 0.5 * (3 * v1 / v2 + np.sum((m1 - m2) ** 2) / v2 - 3 + 3 * np.log(v2 / v1))

    var_a = np.exp(np.maximum(log_var_a, GRAPH_LOG_VAR_FLOOR))
    var_b = np.exp(np.maximum(log_var_b, GRAPH_LOG_VAR_FLOOR))
    expected = [kl(mean_a[i], var_a[i], mean_b[i], var_b[i])
                + kl(mean_b[i], var_b[i], mean_a[i], var_a[i]) for i in range(5)]
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-10)


def test_jensen_shannon_matches_direct_computation():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(3), size=4)
    q = rng.dirichlet(np.ones(3), size=4)
    q[0] = [1.0, 0.0, 0.0]  # a zero entry: 0 log 0 = 0

    def kl(a, b):
        keep = a > 0
        return np.sum(a[keep] * np.log(a[keep] / b[keep]))

    expected = [0.5 * kl(p[i], (p[i] + q[i]) / 2) + 0.5 * kl(q[i], (p[i] + q[i]) / 2)
                for i in range(4)]
    value = jensen_shannon(torch.as_tensor(p), torch.as_tensor(q))
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-9, atol=1e-12)
    assert np.all(value.numpy() <= np.log(2) + 1e-12)


def test_graph_divergence_is_the_weighted_sum_over_edges():
    rng = np.random.default_rng(5)
    mean, log_var = rng.normal(size=(4, 2)), rng.normal(size=4) + 1.0
    resp = rng.dirichlet(np.ones(3), size=4)
    graph = sp.csr_matrix(np.array([[0, .7, .3, 0], [1, 0, 0, 0], [0, 0, 0, 0],
                                    [.2, .2, .6, 0]]))
    tensors = [torch.as_tensor(a, dtype=torch.float64) for a in (mean, log_var, resp)]
    edges = Edges.from_sparse(graph, "cpu")
    edges.weight = edges.weight.double()
    value = float(graph_divergence(edges, *tensors))
    expected = 0.0
    for i, j in zip(*graph.nonzero()):
        pair = [torch.as_tensor(a[[i]], dtype=torch.float64) for a in (mean, log_var)]
        other = [torch.as_tensor(a[[j]], dtype=torch.float64) for a in (mean, log_var)]
        expected += graph[i, j] * float(
            symmetric_gaussian_kl(pair[0], pair[1], other[0], other[1])
            + jensen_shannon(tensors[2][[i]], tensors[2][[j]]))
    assert value == pytest.approx(expected, rel=1e-6)


def test_graph_weight_warms_up_linearly():
    empty = Edges.from_sparse(sp.csr_matrix((2, 2)), "cpu")
    graph = GraphRegulariser(2.0, empty, empty, warmup_epochs=10)
    assert [graph.weight_at(e) for e in (0, 5, 10, 50, None)] == [0.0, 1.0, 2.0, 2.0, 2.0]


def test_knn_graph_weights_match_direct_computation():
    rng = np.random.default_rng(6)
    points = rng.normal(size=(12, 3))
    points[4] = 0.0  # a zero row (an empty row of X): no neighbours, no one's neighbour
    graph = knn_graph(points, 3).toarray()
    unit = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-300)
    cosine = 1 - unit @ unit.T
    for i in range(12):
        if i == 4:
            assert not graph[i].any()
            continue
        others = [j for j in range(12) if j not in (i, 4)]
        nearest = sorted(others, key=lambda j: cosine[i, j])[:3]
        s = cosine[i, nearest[-1]]
        weights = np.exp(-cosine[i, nearest] ** 2 / (2 * s ** 2))
        expected = np.zeros(12)
        expected[nearest] = weights / weights.sum()
        np.testing.assert_allclose(graph[i], expected, atol=1e-10)
    assert not graph[:, 4].any()


def test_neighbour_graphs_link_rows_of_the_same_planted_cluster(clear_data):
    X, rows, cols = clear_data
    row_graph, column_graph = neighbour_graphs(sp.csr_matrix(X), 10, 0)
    assert row_graph.shape == (240, 240) and column_graph.shape == (160, 160)
    for graph, labels in ((row_graph, rows), (column_graph, cols)):
        np.testing.assert_allclose(np.asarray(graph.sum(1)).ravel(), 1.0)
        i, j = graph.nonzero()
        agreement = np.sum(graph.data * (labels[i] == labels[j])) / graph.data.sum()
        assert agreement > 0.9


def test_check_row_graph_normalises_and_drops_self_loops():
    graph = check_row_graph(np.array([[5.0, 1.0, 3.0], [0, 0, 0], [2.0, 2.0, 0]]), 3)
    np.testing.assert_allclose(graph.toarray(), [[0, .25, .75], [0, 0, 0], [.5, .5, 0]])


@pytest.mark.parametrize("graph, message", [
    (sp.eye(5), "shape"),
    (np.ones(240), "2-D"),
    (sp.csr_matrix(np.ones((240, 240))) - 2 * sp.eye(240, format="csr"), "negative"),
    (np.full((240, 240), np.nan), "NaN"),
])
def test_bad_row_graph_raises_a_clear_value_error(graph, message, clear_data):
    X, _, _ = clear_data
    model = DeepLatentBlockCoclustering(3, graph_weight=1.0, **FAST)
    with pytest.raises(ValueError, match=message):
        model.fit(X, row_graph=graph)


def test_row_graph_needs_graph_weight(clear_data):
    X, _, _ = clear_data
    with pytest.raises(ValueError, match="graph_weight"):
        DeepLatentBlockCoclustering(3, **FAST).fit(X, row_graph=sp.eye(240))


@pytest.mark.parametrize("params, name", [
    (dict(clustering="kmeans"), "clustering"),
    (dict(module_concentration=0.5), "module_concentration"),
    (dict(module_orthonormality=-1.0), "module_orthonormality"),
    (dict(graph_weight=-0.1), "graph_weight"),
    (dict(n_neighbors=0), "n_neighbors"),
])
def test_bad_option_parameters_are_named(params, name, clear_data):
    X, _, _ = clear_data
    with pytest.raises(ValueError, match=name):
        DeepLatentBlockCoclustering(3, **{**FAST, **params}).fit(X)


# ---------------------------------------------------------------- recovery and the estimator
def test_module_recovers_a_clear_planted_structure(clear_data):
    X, rows, cols = clear_data
    model = fit_quietly(DeepLatentBlockCoclustering(3, clustering="module",
                                                    block_refinement=False, **FAST), X)
    assert cari(rows, cols, model.row_labels_, model.column_labels_) >= 0.95
    # Memberships are the module's G, and predict_proba gives them back on the training rows.
    np.testing.assert_allclose(model.predict_proba(X), model.row_memberships_, atol=1e-5)
    # Column clusters are re-paired with the row clusters; the module follows the new order.
    np.testing.assert_allclose(model.predict_column_proba(X), model.column_memberships_,
                               atol=1e-5)
    np.testing.assert_allclose(model.row_memberships_.sum(1), 1.0, atol=1e-6)
    assert np.isfinite(model.lower_bound_)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict_proba(X), model.row_memberships_, atol=1e-5)


@pytest.mark.parametrize("refinement", [False, True])
def test_module_reaches_spectral_coclustering_on_planted_blocks(refinement):
    X, rows, cols = make_lbm(400, 300, 4, block_params=diagonal_blocks(4, 0.2, 0.15),
                             random_state=3)
    peer = SpectralCoclustering(4, random_state=0).fit(X)
    peer_score = cari(rows, cols, peer.row_labels_, peer.column_labels_)
    model = fit_quietly(DeepLatentBlockCoclustering(
        4, clustering="module", block_refinement=refinement, **FAST), X)
    assert cari(rows, cols, model.row_labels_, model.column_labels_) >= peer_score


@pytest.mark.parametrize("clustering", ["gmm", "module"])
def test_graph_weight_keeps_recovery_of_a_clear_structure(clustering, clear_data):
    X, rows, cols = clear_data
    model = fit_quietly(DeepLatentBlockCoclustering(
        3, graph_weight=2.0, clustering=clustering, block_refinement=False, **FAST), X)
    assert cari(rows, cols, model.row_labels_, model.column_labels_) >= 0.95
    assert np.all(np.isfinite(model.row_memberships_))


def test_a_user_row_graph_is_used(clear_data):
    X, rows, cols = clear_data
    # A graph that links each row to the rows of its planted cluster (as citations might).
    same = (rows[:, None] == rows[None, :]).astype(float)
    graph = sp.csr_matrix(same)
    base = dict(graph_weight=2.0, block_refinement=False, **FAST)
    with_graph = DeepLatentBlockCoclustering(3, **base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        positions = with_graph.fit_transform(X, row_graph=graph)  # forwarded by fit_transform
    assert positions.shape == (240, 4)
    without = fit_quietly(DeepLatentBlockCoclustering(3, **base), X)
    assert cari(rows, cols, with_graph.row_labels_, with_graph.column_labels_) >= 0.95
    # The graph enters the objective: a different graph gives a different bound.
    assert with_graph.lower_bound_ != without.lower_bound_
