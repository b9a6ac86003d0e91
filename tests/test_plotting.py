"""skcocluster.plotting: each function draws the expected artists and returns its Axes."""

import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, NotFittedError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from skcocluster import DeepLatentBlockCoclustering  # noqa: E402
from skcocluster import plotting  # noqa: E402
from skcocluster.datasets import make_lbm  # noqa: E402
from skcocluster.plotting import (plot_elbo_history, plot_latent_space,  # noqa: E402
                                  plot_reordered_matrix)

TINY = dict(pretrain_epochs=15, max_iter=12, hidden_dim=8, random_state=0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    blocks = np.full((3, 2), 0.05) + 0.6 * np.array([[1, 0], [0, 1], [1, 1]])
    return make_lbm(60, 40, (3, 2), block_params=blocks, random_state=0)


def fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return DeepLatentBlockCoclustering(**{**TINY, **params}).fit(X)


@pytest.fixture(scope="module")
def model_3d(data):
    return fit(data[0], n_clusters=(3, 2), latent_dim=3)


@pytest.fixture(scope="module")
def model_2d(data):
    return fit(data[0], n_clusters=(3, 2), latent_dim=2)


# ---------------------------------------------------------------- plot_reordered_matrix
def test_reordered_matrix_sorts_by_cluster_and_draws_boundaries(data):
    X, rows, cols = data
    ax = plot_reordered_matrix(X, rows, cols)
    assert isinstance(ax, Axes)
    image = ax.get_images()
    assert len(image) == 1
    shown = image[0].get_array()
    assert shown.shape == X.shape
    # Rows come cluster by cluster: the shown matrix is X with sorted rows and columns.
    expected = X[np.argsort(rows, kind="stable")][:, np.argsort(cols, kind="stable")]
    np.testing.assert_array_equal(shown, expected)
    # 3 row clusters -> 2 horizontal lines, 2 column clusters -> 1 vertical line, placed
    # between the pixels at the cumulative cluster sizes.
    horizontal = [line for line in ax.lines if np.ptp(line.get_ydata()) == 0]
    vertical = [line for line in ax.lines if np.ptp(line.get_xdata()) == 0]
    assert len(ax.lines) == 3 and len(horizontal) == 2 and len(vertical) == 1
    row_bounds = np.cumsum(np.bincount(rows))[:-1] - 0.5
    np.testing.assert_allclose(sorted(line.get_ydata()[0] for line in horizontal), row_bounds)
    assert vertical[0].get_xdata()[0] == np.bincount(cols)[0] - 0.5


def test_reordered_matrix_draws_on_the_given_axes_and_accepts_sparse(data):
    X, rows, cols = data
    fig, ax = plt.subplots()
    returned = plot_reordered_matrix(sp.csc_matrix(X) > 0, rows, cols, ax=ax, vmax=2)
    assert returned is ax
    np.testing.assert_array_equal(ax.get_images()[0].get_array().shape, X.shape)
    assert ax.get_images()[0].get_clim()[1] == 2


def test_reordered_matrix_one_cluster_has_no_boundaries(data):
    X, _, _ = data
    ax = plot_reordered_matrix(X, np.zeros(X.shape[0]), np.zeros(X.shape[1]))
    assert len(ax.lines) == 0


def test_reordered_matrix_guards(data):
    X, rows, cols = data
    with pytest.raises(ValueError, match="max_cells"):
        plot_reordered_matrix(sp.csr_matrix(X), rows, cols, max_cells=100)
    with pytest.raises(ValueError, match="row_labels"):
        plot_reordered_matrix(X, rows[:-1], cols)
    with pytest.raises(ValueError, match="2-D"):
        plot_reordered_matrix(X[0], rows, cols)


# ---------------------------------------------------------------- plot_latent_space
def test_latent_space_projects_and_draws_components(model_3d):
    ax = plot_latent_space(model_3d)
    assert isinstance(ax, Axes)
    # A scatter of positions and one of component means, per side.
    assert len(ax.collections) == 4
    n_rows, n_columns = model_3d.row_embedding_.shape[0], model_3d.column_embedding_.shape[0]
    sizes = sorted(len(c.get_offsets()) for c in ax.collections)
    assert sizes == sorted([n_rows, n_columns, 3, 2])
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    assert len(circles) == 3 + 2
    radii = sorted(c.get_radius() for c in circles)
    expected = sorted(np.sqrt(np.concatenate([model_3d.row_variances_,
                                              model_3d.column_variances_])))
    np.testing.assert_allclose(radii, expected)
    # The projection is a PCA of rows and columns together: centred coordinates whose
    # first axis carries at least as much variance as the second.
    points = np.vstack([c.get_offsets() for c in ax.collections
                        if len(c.get_offsets()) in (n_rows, n_columns)])
    np.testing.assert_allclose(points.mean(axis=0), 0, atol=1e-8)
    assert points[:, 0].var() >= points[:, 1].var()
    assert ax.get_xlabel() == "principal axis 1"
    # Every position lies inside the drawn limits.
    x_low, x_high = ax.get_xlim()
    assert x_low <= points[:, 0].min() and points[:, 0].max() <= x_high


def test_latent_space_2d_shows_positions_as_they_are(model_2d):
    fig, ax = plt.subplots()
    assert plot_latent_space(model_2d, ax=ax) is ax
    offsets = [np.asarray(c.get_offsets()) for c in ax.collections]
    np.testing.assert_allclose(offsets[0], model_2d.row_embedding_)
    np.testing.assert_allclose(offsets[1], model_2d.row_means_)
    centres = sorted(tuple(np.round(c.center, 8)) for c in ax.patches)
    expected = sorted(tuple(np.round(m, 8)) for m in
                      np.vstack([model_2d.row_means_, model_2d.column_means_]))
    assert centres == expected
    assert ax.get_xlabel() == "latent dimension 1"
    assert ax.get_legend() is not None


def test_latent_space_options(model_3d):
    ax = plot_latent_space(model_3d, show_columns=False, show_components=False)
    assert len(ax.collections) == 1 and len(ax.patches) == 0
    ax = plot_latent_space(model_3d, show_rows=False)
    assert len(ax.collections) == 2 and len(ax.patches) == 2


def test_latent_space_one_dimension(data):
    model = fit(data[0], n_clusters=2, latent_dim=1, pretrain_epochs=5, max_iter=3)
    ax = plot_latent_space(model)
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], 0)


# ---------------------------------------------------------------- plot_elbo_history
def test_elbo_history_draws_both_phases(model_3d):
    ax = plot_elbo_history(model_3d)
    assert isinstance(ax, Axes)
    pretrain, elbo, boundary, final = ax.lines
    n_pretrain, n_iter = TINY["pretrain_epochs"], model_3d.n_iter_
    np.testing.assert_array_equal(pretrain.get_xdata(), np.arange(1, n_pretrain + 1))
    np.testing.assert_allclose(pretrain.get_ydata(), model_3d.pretrain_history_)
    np.testing.assert_array_equal(elbo.get_xdata(),
                                  np.arange(n_pretrain + 1, n_pretrain + n_iter + 1))
    np.testing.assert_allclose(elbo.get_ydata(), model_3d.elbo_history_)
    assert boundary.get_xdata()[0] == n_pretrain + 0.5
    assert final.get_xdata()[0] == n_pretrain + n_iter
    assert final.get_ydata()[0] == pytest.approx(model_3d.lower_bound_)
    assert ax.get_xlim()[1] >= n_pretrain + n_iter


def test_elbo_history_without_pretraining(data):
    model = fit(data[0], n_clusters=2, pretrain_epochs=0, max_iter=5)
    fig, ax = plt.subplots()
    assert plot_elbo_history(model, ax=ax) is ax
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(1, model.n_iter_ + 1))


def test_unfitted_estimator_is_refused():
    for function in (plot_latent_space, plot_elbo_history):
        with pytest.raises(NotFittedError):
            function(DeepLatentBlockCoclustering())


def test_missing_matplotlib_says_what_to_install(monkeypatch, data):
    X, rows, cols = data
    # None in sys.modules makes the import fail, as if matplotlib were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install skcocluster\[plot\]"):
        plotting.plot_reordered_matrix(X, rows, cols)
