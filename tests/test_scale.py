"""The paths that make large matrices fit: sampled cells, batched encoding, device handling.

Each is checked against the exact computation on a matrix small enough to compute exactly.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import skcocluster._dlbm as dlbm_module
from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score as cari

FAST = dict(pretrain_epochs=40, max_iter=60, hidden_dim=16, latent_dim=4, random_state=0)


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.fixture(scope="module")
def planted():
    block = np.full((3, 3), 0.1) + 0.3 * np.eye(3)
    return make_lbm(300, 200, 3, block_params=block, sparse=True, random_state=1)


@pytest.fixture(scope="module")
def exact_and_sampled(planted):
    X, _, _ = planted
    exact = fit_quietly(DeepLatentBlockCoclustering(3, reconstruction="exact", **FAST), X)
    # 6000 of the 60000 cells per epoch: 20 per row, stratified by row.
    sampled = fit_quietly(DeepLatentBlockCoclustering(
        3, reconstruction="sampled", n_sampled_cells=6000, **FAST), X)
    return exact, sampled


def test_sampled_training_finds_the_exact_partition(planted, exact_and_sampled):
    _, rows, cols = planted
    exact, sampled = exact_and_sampled
    assert cari(rows, cols, exact.row_labels_, exact.column_labels_) > 0.95
    assert cari(rows, cols, sampled.row_labels_, sampled.column_labels_) > 0.95
    assert adjusted_rand_score(exact.row_labels_, sampled.row_labels_) > 0.95


def test_sampled_training_reaches_the_exact_bound(exact_and_sampled):
    exact, sampled = exact_and_sampled
    # Both final bounds are per cell; the sampled fit's is estimated from 4 x 6000 cells.
    assert sampled.lower_bound_ == pytest.approx(exact.lower_bound_, rel=0.05)


def test_sampled_elbo_estimates_the_exact_elbo(planted, exact_and_sampled):
    X, _, _ = planted
    _, sampled = exact_and_sampled
    estimate = sampled.elbo(X)
    assert estimate == sampled.elbo(X)  # a fixed seed: the same cells every call
    exact = sampled.set_params(reconstruction="exact").elbo(X)
    sampled.set_params(reconstruction="sampled")
    assert estimate != exact  # it really samples...
    assert estimate == pytest.approx(exact, rel=0.02)  # ...and lands close


def test_auto_reconstruction_samples_above_the_threshold(planted, monkeypatch):
    X, _, _ = planted
    model = DeepLatentBlockCoclustering(3, **FAST)
    assert model._n_sampled_cells(X) is None
    monkeypatch.setattr(dlbm_module, "SAMPLED_CELLS_THRESHOLD", X.shape[0] * X.shape[1] - 1)
    assert model._n_sampled_cells(X) == max(X.nnz, 100_000)
    assert model.set_params(n_sampled_cells=5000)._n_sampled_cells(X) == 5000
    assert model.set_params(reconstruction="exact")._n_sampled_cells(X) is None


def test_batched_encoding_equals_one_batch(planted, exact_and_sampled, monkeypatch):
    X, _, _ = planted
    exact, _ = exact_and_sampled
    whole = exact.predict_proba(X), exact.transform(X), exact.predict_column_proba(X)
    monkeypatch.setattr(dlbm_module, "ENCODE_BATCH_NODES", 7)
    batched = exact.predict_proba(X), exact.transform(X), exact.predict_column_proba(X)
    for one, many in zip(whole, batched):
        np.testing.assert_allclose(one, many, rtol=1e-5, atol=1e-6)


def test_verbose_does_not_change_the_fit(planted, capsys):
    X, _, _ = planted
    quiet = fit_quietly(DeepLatentBlockCoclustering(3, **FAST), X)
    loud = fit_quietly(DeepLatentBlockCoclustering(3, verbose=2, **FAST), X)
    capsys.readouterr()
    np.testing.assert_array_equal(quiet.elbo_history_, loud.elbo_history_)
    np.testing.assert_array_equal(quiet.row_labels_, loud.row_labels_)
    assert quiet.n_iter_ == loud.n_iter_


def test_fitted_model_lives_on_the_cpu(exact_and_sampled):
    # device='auto' trains on a GPU where there is one; the fitted model comes back either way.
    exact, _ = exact_and_sampled
    assert exact.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")
    devices = {tensor.device.type for tensor in exact.module_.state_dict().values()}
    assert devices == {"cpu"}
