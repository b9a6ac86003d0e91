"""The fit template shared by the two estimators (skcocluster/_base.py)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster._refine.partition import FittedPartition
from skcocluster.datasets import make_lbm

SHORT = {
    DeepLatentBlockCoclustering: dict(pretrain_epochs=2, max_iter=2, hidden_dim=8,
                                      latent_dim=2, random_state=0),
    VariationalCoclustering: dict(pretrain_epochs=1, max_iter=2, hidden_dim=8, latent_dim=2,
                                  cell_latent_dim=2, random_state=0),
}
ESTIMATORS = list(SHORT)


@pytest.fixture(scope="module")
def data():
    blocks = np.full((3, 3), 0.1) + 0.6 * np.eye(3)
    return make_lbm(60, 40, 3, block_params=blocks, random_state=0)[0]


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda cls: cls.__name__)
def fitted(request, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return request.param(3, **SHORT[request.param]).fit(data)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_convergence_warning_points_at_the_call_to_fit(cls, data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls(3, **SHORT[cls]).fit(data)
    convergence = [w for w in caught if "did not converge" in str(w.message)]
    assert len(convergence) == 1
    assert convergence[0].category is ConvergenceWarning
    assert convergence[0].filename == __file__


def test_seed_conventions_of_each_estimator():
    seeds = np.array([11, 22, 33])
    auxiliary, restarts = DeepLatentBlockCoclustering(n_init=2)._split_seeds(seeds)
    assert auxiliary == 33 and list(restarts) == [11, 22]
    auxiliary, restarts = VariationalCoclustering(n_init=2)._split_seeds(seeds)
    assert auxiliary == 11 and list(restarts) == [22, 33]


def test_restart_inits():
    assert DeepLatentBlockCoclustering(n_init=3, init="alternate")._restart_inits() == [
        "spectral", "random", "spectral"]
    assert VariationalCoclustering(n_init=2, init="random")._restart_inits() == [
        "random", "random"]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_cluster_counts_with_and_without_facets(cls):
    estimator = cls([3, (2, 5)], n_facets=2)
    assert estimator._check_n_clusters() is True
    assert estimator._facet_counts == [(3, 4), (2, 5)]
    estimator = cls((2, 5))
    assert estimator._check_n_clusters() is False
    assert estimator._facet_counts == [(2, 5)]
    estimator = cls("auto")
    assert estimator._check_n_clusters() is False  # chosen at fit, an L x Q checkerboard
    assert estimator._facet_counts is None


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_facet_cluster_counts_are_checked_against_the_matrix(cls, data):
    with pytest.raises(ValueError, match="column clusters"):
        cls([3, (2, 50)], n_facets=2, **{**SHORT[cls], "max_iter": 60}).fit(data)


def test_each_estimator_states_its_refinement_policy():
    deep = DeepLatentBlockCoclustering._refinement_stage
    variational = VariationalCoclustering._refinement_stage
    assert (deep.own_name, deep.keep_own_if_inadequate) == ("deep", True)
    assert (variational.own_name, variational.keep_own_if_inadequate) == ("variational",
                                                                          False)


def test_without_refinement_the_own_model_assigns_new_nodes(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DeepLatentBlockCoclustering(3, block_refinement=False,
                                            **SHORT[DeepLatentBlockCoclustering]).fit(data)
    assert not hasattr(model, "refined_from_")
    assert isinstance(model._partition, FittedPartition)
    assert model._partition.new_memberships(data, "row") is None
    np.testing.assert_allclose(model.predict_proba(data), model.row_memberships_,
                               rtol=1e-5, atol=1e-6)


def test_get_submatrix_of_a_bicluster(fitted, data):
    rows, columns = fitted.get_indices(0)
    np.testing.assert_array_equal(fitted.get_submatrix(0, data),
                                  data[rows[:, None], columns])
    np.testing.assert_array_equal(fitted.get_submatrix(-1, data),
                                  fitted.get_submatrix(fitted.rows_.shape[0] - 1, data))
    assert fitted.get_shape(0) == (rows.size, columns.size)


@pytest.mark.parametrize("index", [3, -4, 10, 1.0, True, "0"])
def test_get_submatrix_outside_the_biclusters_raises_a_clear_error(fitted, data, index):
    with pytest.raises(ValueError, match="outside the 3 biclusters"):
        fitted.get_submatrix(index, data)
    with pytest.raises(ValueError, match="outside the 3 biclusters"):
        fitted.get_shape(index)
