"""Training on a CUDA device: run only where torch sees a GPU (skipped everywhere else).

The CPU suite checks device handling without a GPU (a 'cuda' request fails clearly, 'auto'
falls back). These tests check that a fit on the GPU finds what a fit on the CPU finds, hands
back a CPU model that pickles and predicts anywhere, and is reproducible.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score as cari

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

FAST = dict(pretrain_epochs=60, max_iter=60, hidden_dim=16, latent_dim=4, random_state=0)
VC_FAST = dict(pretrain_epochs=5, max_iter=10, hidden_dim=16, latent_dim=4, batch_size=64,
               cells_per_batch=256, n_samples=3, random_state=0)


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.fixture(scope="module")
def planted():
    block = np.full((3, 3), 0.1) + 0.4 * np.eye(3)
    return make_lbm(300, 200, 3, block_params=block, sparse=True, random_state=1)


@pytest.fixture(scope="module")
def on_gpu(planted):
    return fit_quietly(DeepLatentBlockCoclustering(3, device="cuda", **FAST), planted[0])


def test_gpu_fit_recovers_the_planted_partition(planted, on_gpu):
    X, rows, cols = planted
    assert on_gpu.device_.type == "cuda"
    assert cari(rows, cols, on_gpu.row_labels_, on_gpu.column_labels_) >= 0.95
    on_cpu = fit_quietly(DeepLatentBlockCoclustering(3, device="cpu", **FAST), X)
    assert adjusted_rand_score(on_cpu.row_labels_, on_gpu.row_labels_) >= 0.95
    # Same model, same data: the bounds agree up to float32 arithmetic in another order.
    assert on_gpu.lower_bound_ == pytest.approx(on_cpu.lower_bound_, rel=0.02)


def test_gpu_fit_is_reproducible(planted, on_gpu):
    again = fit_quietly(DeepLatentBlockCoclustering(3, device="cuda", **FAST), planted[0])
    np.testing.assert_array_equal(again.row_labels_, on_gpu.row_labels_)
    np.testing.assert_array_equal(again.column_labels_, on_gpu.column_labels_)


def test_gpu_fitted_model_is_on_the_cpu_and_pickles(planted, on_gpu):
    X = planted[0]
    states = {t.device.type for t in on_gpu.module_.state_dict().values()}
    assert states == {"cpu"}
    assert isinstance(on_gpu.row_labels_, np.ndarray)
    restored = pickle.loads(pickle.dumps(on_gpu))
    np.testing.assert_array_equal(restored.predict(X[:50]), on_gpu.predict(X[:50]))
    assert np.all(np.isfinite(restored.predict_proba(X[:50])))
    assert np.isfinite(restored.score(X))


def test_gpu_sampled_cells(planted):
    X, rows, cols = planted
    model = fit_quietly(DeepLatentBlockCoclustering(
        3, device="cuda", reconstruction="sampled", n_sampled_cells=6000, **FAST), X)
    assert cari(rows, cols, model.row_labels_, model.column_labels_) >= 0.95


@pytest.mark.parametrize("option", [dict(clustering="module"), dict(graph_weight=1.0),
                                    dict(likelihood="poisson", degree_correction=True)])
def test_gpu_options(planted, option):
    X, rows, cols = planted
    model = fit_quietly(DeepLatentBlockCoclustering(3, device="cuda", **option, **FAST), X)
    assert cari(rows, cols, model.row_labels_, model.column_labels_) >= 0.9


def test_gpu_facets():
    from skcocluster.datasets import make_multi_facet_blocks

    X, row_truths, _ = make_multi_facet_blocks(300, 240, (3, 2), p_in=0.4, random_state=1)
    model = fit_quietly(DeepLatentBlockCoclustering(
        [3, 2], n_facets=2, random_state=0, device="cuda", pretrain_epochs=150, max_iter=160,
        facet_fade_epochs=30, hidden_dim=32, latent_dim=4), X)
    for truth, found in zip(row_truths, model.row_labels_facets_):
        assert adjusted_rand_score(truth, found) >= 0.9


def test_gpu_variational(planted):
    X, rows, cols = planted
    model = fit_quietly(VariationalCoclustering(3, device="cuda", **VC_FAST), X)
    assert model.device_.type == "cuda"
    assert {t.device.type for t in model.module_.state_dict().values()} == {"cpu"}
    assert np.all(np.isfinite(model.predict_proba(X[:20])))
    on_cpu = fit_quietly(VariationalCoclustering(3, device="cpu", **VC_FAST), X)
    assert adjusted_rand_score(model.row_labels_, on_cpu.row_labels_) >= 0.9


def test_gpu_variational_graph_weight(planted):
    X, rows, cols = planted
    params = dict(VC_FAST, graph_weight=1.0, n_neighbors=5)
    model = fit_quietly(VariationalCoclustering(3, device="cuda", **params), X)
    assert model.objective_terms_["graph_divergence"] > 0
    on_cpu = fit_quietly(VariationalCoclustering(3, device="cpu", **params), X)
    assert adjusted_rand_score(model.row_labels_, on_cpu.row_labels_) >= 0.9


def test_gpu_variational_facets():
    from skcocluster.datasets import make_multi_facet_blocks

    X, row_truths, _ = make_multi_facet_blocks(300, 240, (3, 2), p_in=0.4, random_state=1)
    model = fit_quietly(VariationalCoclustering(
        [3, 2], n_facets=2, device="cuda", **dict(VC_FAST, pretrain_epochs=10, max_iter=30,
                                                   hidden_dim=32)), X)
    assert np.all(np.isfinite(model.predict_proba(X[:20])))
    for truth, found in zip(row_truths, model.row_labels_facets_):
        assert adjusted_rand_score(truth, found) >= 0.9
