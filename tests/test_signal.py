"""The checks behind the warning of a fit that found nothing (``_refine/signal.py``)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster._base import _warn_if_no_signal
from skcocluster._likelihoods import make_likelihood
from skcocluster._refine.signal import finds_nothing, held_out_gains, random_partitions
from skcocluster.datasets import make_lbm

NO_STRUCTURE = "may carry no structure"


def _planted(seed=0):
    blocks = np.full((3, 3), 0.1) + 0.15 * np.eye(3)
    X, rows, columns = make_lbm(300, 200, 3, block_params=blocks, random_state=seed)
    return sp.csr_matrix(X), rows, columns


def _degree_noise(seed=0):
    """Poisson counts of rate ``a_i b_j``: degrees and nothing else."""
    rng = np.random.default_rng(seed)
    rows, columns = rng.gamma(1.0, 1.0, 400), rng.gamma(1.0, 1.0, 300)
    return sp.csr_matrix(rng.poisson(0.3 * np.outer(rows, columns)).astype(float))


def test_the_true_partition_gains_and_a_shuffled_one_does_not():
    X, rows, columns = _planted()
    bernoulli = make_likelihood("bernoulli")
    gains = held_out_gains(X, bernoulli, [(rows, columns)] + random_partitions(rows, columns))
    assert gains[0] > 0.01
    assert np.abs(gains[1:]).max() < 0.001
    assert finds_nothing(X, bernoulli, rows, columns) is None
    rng = np.random.default_rng(0)
    assert "no better than one cluster" in finds_nothing(
        X, bernoulli, rng.permutation(rows), rng.permutation(columns))


def test_clusters_of_degree_alone_gain_nothing_on_counts():
    # Terciles of the row and column totals: clusters a plain block model would reward,
    # which the degree-corrected model explains with one cluster per side.
    X = _degree_noise()
    rows = np.digitize(X.sum(1).A1, np.quantile(X.sum(1).A1, [1 / 3, 2 / 3]))
    columns = np.digitize(X.sum(0).A1, np.quantile(X.sum(0).A1, [1 / 3, 2 / 3]))
    assert finds_nothing(X, make_likelihood("poisson"), rows, columns).startswith(
        "it predicts held-out cells no better than one cluster")


def test_a_large_background_cluster_is_not_a_collapse():
    # Most columns in one cluster of common cells, a few in clusters that separate the
    # rows: structure, as the vocabulary of a corpus has it.
    rng = np.random.default_rng(0)
    rows = np.repeat([0, 1, 2], 100)
    columns = np.zeros(400, dtype=int)
    columns[:18] = np.repeat([1, 2, 3], 6)  # 95.5% of the columns in cluster 0
    rates = np.full((3, 4), 0.1)
    rates[np.arange(3), np.arange(1, 4)] = 0.6
    X = sp.csr_matrix((rng.random((300, 400)) < rates[rows][:, columns]).astype(float))
    assert finds_nothing(X, make_likelihood("bernoulli"), rows, columns) is None


def test_the_warning_names_the_reason_and_points_at_the_caller():
    X, rows, columns = _planted()
    rng = np.random.default_rng(0)

    def fit():  # the two frames between the user's call and the check: fit and its wrapper
        def wrapper():
            _warn_if_no_signal(X, make_likelihood("bernoulli"), rng.permutation(rows),
                               rng.permutation(columns))
        wrapper()

    with pytest.warns(ConvergenceWarning, match=NO_STRUCTURE + ".*no better than one") as record:
        fit()
    assert record[0].filename == __file__


@pytest.mark.parametrize("estimator", [
    DeepLatentBlockCoclustering(3, pretrain_epochs=50, max_iter=50, random_state=0),
    VariationalCoclustering(3, max_iter=20, random_state=0)])
def test_a_fit_on_planted_blocks_does_not_warn(estimator):
    X, _, _ = _planted()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=NO_STRUCTURE)
        estimator.fit(X)


def test_one_cluster_per_side_is_not_checked():
    X, _, _ = _planted()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=NO_STRUCTURE)
        DeepLatentBlockCoclustering(1, pretrain_epochs=10, max_iter=10,
                                    random_state=0).fit(X)
