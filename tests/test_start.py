"""The starts of both estimators: several clusterings of the initial positions per side, the
pair kept by held-out prediction (``_start.choice.choose_start_pair``); and the spectral first
layer and Gaussian mixtures of VariationalCoclustering (``_variational_start.py``)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import SpectralCoclustering
from sklearn.exceptions import ConvergenceWarning

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster._start.choice import StartDraw, choose_start_pair
from skcocluster._start.mixtures import fit_mixtures
from skcocluster._train.variational import normalised_inputs, spectral_directions
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score as cari

IMBALANCED = dict(block_params=np.full((4, 4), 0.1) + 0.1 * np.eye(4),
                  row_proportions=[0.5, 0.25, 0.15, 0.1],
                  column_proportions=[0.4, 0.3, 0.2, 0.1])


def start_of(labels, n_clusters, bound):
    """A candidate start that gives ``labels``, with its own criterion ``bound``."""
    return StartDraw(np.asarray(labels), n_clusters, bound)


def balanced_wrong(labels, n_clusters, seed):
    """Labels cut into equal shares after a random shuffle: wrong and balanced."""
    order = np.random.default_rng(seed).permutation(labels.size)
    wrong = np.empty_like(labels)
    wrong[order] = np.arange(labels.size) * n_clusters // labels.size
    return wrong


def test_start_pair_is_chosen_by_held_out_prediction_not_by_mixture_bound():
    X, rows, cols = make_lbm(400, 300, 4, random_state=0, **IMBALANCED)
    csr = sp.csr_matrix(X, dtype=float)
    row_starts = [start_of(balanced_wrong(rows, 4, 0), 4, 10.0), start_of(rows, 4, 1.0),
                  start_of(balanced_wrong(rows, 4, 1), 4, 9.0)]
    column_starts = [start_of(balanced_wrong(cols, 4, 2), 4, 10.0), start_of(cols, 4, 1.0)]
    row_start, column_start = choose_start_pair(csr, "bernoulli", row_starts, column_starts)
    assert row_start is row_starts[1] and column_start is column_starts[1]


def test_a_start_that_leaves_a_cluster_empty_comes_last():
    X, rows, cols = make_lbm(200, 150, 3, random_state=1,
                             block_params=np.full((3, 3), 0.1) + 0.5 * np.eye(3))
    csr = sp.csr_matrix(X, dtype=float)
    merged = np.where(rows == 2, 1, rows)  # two planted clusters merged: cluster 2 empty
    row_starts = [start_of(merged, 3, 5.0), start_of(balanced_wrong(rows, 3, 0), 3, 0.0)]
    column_starts = [start_of(cols, 3, 0.0)]
    row_start, _ = choose_start_pair(csr, "bernoulli", row_starts, column_starts)
    assert row_start is row_starts[1]


def test_fit_mixtures_draws_one_mixture_per_seed():
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(centre, 0.1, size=(50, 2)) for centre in (0, 3, 6)])
    starts = fit_mixtures(points, 3, seed=0, n_starts=4)
    assert len(starts) == 4
    for start in starts:
        assert start.labels.shape == (150,) and np.unique(start.labels).size == 3
        np.testing.assert_allclose(start.weights.sum(), 1.0)
        assert start.centres.shape == (3, 2) and np.all(start.variances > 0)
    single = fit_mixtures(points[:1], 3, seed=0)  # one vector: nothing to fit
    assert len(single) == 1 and single[0].centres.shape == (3, 2)


def test_spectral_first_layer_reads_the_item_normalised_coordinates():
    X, _, _ = make_lbm(120, 80, 3, random_state=2,
                       block_params=np.full((3, 3), 0.1) + 0.4 * np.eye(3))
    X[:, 5] = 0  # an empty item gets a zero weight, not a division by zero
    csr = sp.csr_matrix(X, dtype=float)
    weights = spectral_directions(csr, 4, random_state=0)
    assert weights.shape == (80, 4) and np.all(np.isfinite(weights))
    np.testing.assert_array_equal(weights[5], 0.0)
    # The first layer maps x to x D^-1/2 V: its outputs are the coordinates of the rows of
    # the item-normalised matrix on its right singular vectors, so their Gram matrix is
    # diagonal (orthogonal directions).
    inputs = normalised_inputs(csr)
    outputs = inputs @ weights
    gram = outputs.T @ outputs
    off_diagonal = gram - np.diag(np.diag(gram))
    assert np.abs(off_diagonal).max() < 1e-3 * np.abs(np.diag(gram)).max()


def imbalanced_scores(model, seed):
    """CARI of ``model`` and of SpectralCoclustering on the imbalanced planted case."""
    X, rows, cols = make_lbm(1000, 600, 4, random_state=seed, **IMBALANCED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    spectral = SpectralCoclustering(4, random_state=seed).fit(X)
    return (cari(rows, cols, model.row_labels_, model.column_labels_),
            cari(rows, cols, spectral.row_labels_, spectral.column_labels_))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_imbalanced_planted_blocks_are_recovered_above_spectral(seed):
    # The case where the mixture bound preferred a balanced partition: before the start was
    # chosen by held-out prediction, seed 1 reached CARI 0.64 (SpectralCoclustering 0.79).
    # Measured now: 0.965 and 0.964 (SpectralCoclustering 0.767 and 0.790).
    ours, theirs = imbalanced_scores(VariationalCoclustering(4, random_state=seed), seed)
    assert ours >= theirs + 0.1 and ours >= 0.9


@pytest.mark.slow
def test_deep_lbm_start_recovers_imbalanced_blocks_above_spectral():
    # Before the k-means start was chosen among ten draws by held-out prediction, the deep
    # LBM reached 0.720 on this matrix (SpectralCoclustering 0.790); measured now: 0.964.
    ours, theirs = imbalanced_scores(DeepLatentBlockCoclustering(4, random_state=1), 1)
    assert ours >= theirs + 0.1 and ours >= 0.9
