"""Tests of skcocluster.datasets: the block-model generators and the file loaders."""

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from skcocluster.datasets import (
    load_cstr,
    load_matlab,
    load_matrix_market,
    load_npz,
    make_latent_position_blocks,
    make_lbm,
)
from skcocluster.datasets._samples_generator import _cells_above, _degree_bernoulli_block


def _block_means(X, row_labels, column_labels, shape):
    """Empirical mean of every block, shape (n_row_clusters, n_column_clusters)."""
    dense = X.toarray() if sp.issparse(X) else X
    means = np.empty(shape)
    for row_cluster, column_cluster in np.ndindex(*shape):
        block = dense[np.ix_(row_labels == row_cluster, column_labels == column_cluster)]
        means[row_cluster, column_cluster] = block.mean()
    return means


# --------------------------------------------------------------------------
# make_lbm
# --------------------------------------------------------------------------

BERNOULLI_BLOCKS = np.array([[0.1, 0.5, 0.9], [0.3, 0.05, 0.7]])


def test_make_lbm_shapes_and_labels():
    X, row_labels, column_labels = make_lbm(60, 40, (3, 2), random_state=0)
    assert X.shape == (60, 40) and X.dtype == np.float64
    assert row_labels.shape == (60,) and column_labels.shape == (40,)
    assert row_labels.dtype == np.int64 and column_labels.dtype == np.int64
    assert set(row_labels) == {0, 1, 2} and set(column_labels) == {0, 1}
    assert set(np.unique(X)) <= {0.0, 1.0}


@pytest.mark.parametrize("sparse", [False, True])
def test_make_lbm_bernoulli_block_densities(sparse):
    # Blocks have >= 600/2 * 400/3 / 2 ~ 20000 cells (the proportions are uniform), so the
    # standard error of a block density is <= sqrt(0.25 / 20000) ~ 0.0035: 0.02 is ~6 sd.
    X, row_labels, column_labels = make_lbm(
        600, 400, (2, 3), block_params=BERNOULLI_BLOCKS, sparse=sparse, random_state=1
    )
    means = _block_means(X, row_labels, column_labels, (2, 3))
    np.testing.assert_allclose(means, BERNOULLI_BLOCKS, atol=0.02)


def test_make_lbm_sparse_is_binary_csr():
    X, _, _ = make_lbm(300, 200, 3, sparse=True, random_state=2)
    assert isinstance(X, sp.csr_matrix) and X.dtype == np.float64
    assert np.all(X.data == 1.0)
    assert X.has_canonical_format


def test_make_lbm_large_sparse_density():
    # 20000 x 5000 at density ~0.002 without a dense matrix; each diagonal block has
    # ~ (20000/2) * (5000/2) * 0.003 = 75000 ones (sd ~ 270): 3% relative is > 8 sd.
    block_params = np.array([[0.003, 0.001], [0.001, 0.003]])
    X, row_labels, column_labels = make_lbm(
        20000, 5000, 2, block_params=block_params, sparse=True, random_state=3
    )
    assert X.shape == (20000, 5000) and X.nnz > 0
    means = _block_means_sparse(X, row_labels, column_labels, (2, 2))
    np.testing.assert_allclose(means, block_params, rtol=0.03)


def _block_means_sparse(X, row_labels, column_labels, shape):
    """Block means of a sparse matrix through indicator products (no dense copy)."""
    row_indicator = sp.csr_matrix(np.eye(shape[0])[row_labels])
    column_indicator = sp.csr_matrix(np.eye(shape[1])[column_labels])
    block_sums = (row_indicator.T @ X @ column_indicator).toarray()
    block_sizes = np.outer(np.bincount(row_labels), np.bincount(column_labels))
    return block_sums / block_sizes


@pytest.mark.parametrize("sparse", [False, True])
def test_make_lbm_poisson_counts_and_block_means(sparse):
    rates = np.array([[0.2, 3.0], [1.0, 0.0]])
    X, row_labels, column_labels = make_lbm(
        500, 400, 2, block_params=rates, likelihood="poisson", sparse=sparse, random_state=4
    )
    values = X.data if sparse else X.ravel()
    assert np.all(values >= 0) and np.all(values == np.round(values))
    # ~50000 cells a block: the standard error of a mean is <= sqrt(3 / 50000) ~ 0.008.
    means = _block_means(X, row_labels, column_labels, (2, 2))
    np.testing.assert_allclose(means, rates, atol=0.05)


def test_make_lbm_gaussian_means_and_noise():
    means_true = np.array([[-1.0, 2.0], [0.5, 0.0]])
    X, row_labels, column_labels = make_lbm(
        400, 300, 2, block_params=means_true, likelihood="gaussian", noise_std=0.5,
        random_state=5,
    )
    # ~30000 cells a block, noise sd 0.5: standard error ~ 0.003.
    means = _block_means(X, row_labels, column_labels, (2, 2))
    np.testing.assert_allclose(means, means_true, atol=0.02)
    residuals = X - means_true[np.ix_(row_labels, column_labels)]
    assert residuals.std() == pytest.approx(0.5, rel=0.02)


def _coefficient_of_variation(values):
    return values.std() / values.mean()


@pytest.mark.parametrize("likelihood, sparse", [("poisson", False), ("poisson", True),
                                                ("bernoulli", False), ("bernoulli", True)])
def test_make_lbm_degree_spread_gives_heavy_tailed_row_sums(likelihood, sparse):
    common = dict(block_params=[[0.1]], likelihood=likelihood, sparse=sparse, random_state=6)
    X_plain, _, _ = make_lbm(2000, 500, 1, **common)
    X_spread, _, _ = make_lbm(2000, 500, 1, row_degree_spread=1.0, **common)
    plain_sums = np.asarray(X_plain.sum(axis=1)).ravel()
    spread_sums = np.asarray(X_spread.sum(axis=1)).ravel()
    # Without factors the row sums are ~Binomial/Poisson(50): CV ~ 0.14. Log-normal(0, 1)
    # factors have CV sqrt(e - 1) ~ 1.3 (less after clipping at probability 1).
    assert _coefficient_of_variation(plain_sums) < 0.2
    assert _coefficient_of_variation(spread_sums) > 0.8
    assert spread_sums.max() > 5 * np.median(spread_sums)
    # The factors have mean 1, so the overall density is kept (a few percent is lost to
    # clipping at probability 1 for Bernoulli; the row-sum means have ~1% sampling error).
    assert spread_sums.mean() == pytest.approx(plain_sums.mean(), rel=0.1)


def test_sparse_degree_bernoulli_cells_have_exact_probabilities():
    # The cells of this block span light (< 0.75), heavy and clipped (> 1) probabilities.
    row_weights = np.array([0.5, 1.0, 4.0, 10.0])
    column_weights = np.array([0.2, 1.0, 3.0, 0.7, 5.0])
    target = np.minimum(1.0, 0.2 * np.outer(row_weights, column_weights))
    rng = np.random.RandomState(16)
    n_draws = 4000
    frequencies = np.zeros_like(target)
    for _ in range(n_draws):
        rows, cols = _degree_bernoulli_block(row_weights, column_weights, 0.2, rng)
        assert len(set(zip(rows, cols))) == rows.shape[0]  # each cell at most once
        frequencies[rows, cols] += 1
    frequencies /= n_draws
    standard_errors = np.sqrt(target * (1 - target) / n_draws)
    # 5 standard errors over 20 cells; cells of probability 1 must always be drawn.
    np.testing.assert_array_less(np.abs(frequencies - target), 5 * standard_errors + 1e-12)


def test_cells_above_matches_brute_force():
    rng = np.random.default_rng(17)
    row_weights, column_weights = rng.lognormal(size=30), rng.lognormal(size=20)
    rows, cols = _cells_above(row_weights, column_weights, 2.0)
    expected = np.argwhere(np.outer(row_weights, column_weights) > 2.0)
    assert sorted(zip(rows, cols)) == sorted(map(tuple, expected))


def test_make_lbm_column_degree_spread():
    X, _, _ = make_lbm(500, 2000, 1, block_params=[[2.0]], likelihood="poisson",
                       column_degree_spread=1.0, random_state=7)
    column_sums = X.sum(axis=0)
    assert _coefficient_of_variation(column_sums) > 0.8


def test_make_lbm_reproducible():
    for sparse in (False, True):
        first = make_lbm(100, 80, 2, sparse=sparse, row_degree_spread=0.5, random_state=8)
        second = make_lbm(100, 80, 2, sparse=sparse, row_degree_spread=0.5, random_state=8)
        other = make_lbm(100, 80, 2, sparse=sparse, row_degree_spread=0.5, random_state=9)
        X_first, X_second, X_other = (
            (X.toarray() if sparse else X) for X in (first[0], second[0], other[0])
        )
        np.testing.assert_array_equal(X_first, X_second)
        np.testing.assert_array_equal(first[1], second[1])
        np.testing.assert_array_equal(first[2], second[2])
        assert not np.array_equal(X_first, X_other)


def test_make_lbm_shuffle():
    X, row_labels, column_labels = make_lbm(200, 150, 3, shuffle=False, random_state=10)
    assert np.all(np.diff(row_labels) >= 0) and np.all(np.diff(column_labels) >= 0)
    _, row_labels, column_labels = make_lbm(200, 150, 3, shuffle=True, random_state=10)
    assert np.any(np.diff(row_labels) < 0) and np.any(np.diff(column_labels) < 0)


def test_make_lbm_proportions_and_non_empty_clusters():
    # Tiny proportions still get one member each.
    _, row_labels, _ = make_lbm(5, 10, (3, 2), row_proportions=[0.98, 0.01, 0.01],
                                random_state=11)
    assert set(row_labels) == {0, 1, 2}
    # As many rows as clusters: one each.
    _, row_labels, column_labels = make_lbm(3, 4, (3, 4), random_state=12)
    assert sorted(row_labels) == [0, 1, 2] and sorted(column_labels) == [0, 1, 2, 3]
    # A zero proportion leaves its cluster empty, and then fewer rows than clusters is fine.
    _, row_labels, _ = make_lbm(2, 10, (3, 2), row_proportions=[0.5, 0.0, 0.5],
                                random_state=13)
    assert set(row_labels) == {0, 2}
    # Proportions are followed on large samples.
    _, _, column_labels = make_lbm(10, 20000, (2, 3), column_proportions=[0.6, 0.3, 0.1],
                                   random_state=14)
    np.testing.assert_allclose(np.bincount(column_labels) / 20000, [0.6, 0.3, 0.1], atol=0.015)


@pytest.mark.parametrize("likelihood", ["bernoulli", "poisson"])
@pytest.mark.parametrize("spread", [0.0, 0.5])
def test_make_lbm_sparse_with_an_empty_cluster(likelihood, spread):
    X, row_labels, _ = make_lbm(
        40, 30, 3, row_proportions=[0.5, 0.0, 0.5], likelihood=likelihood, sparse=True,
        row_degree_spread=spread, column_degree_spread=spread, random_state=18,
    )
    assert X.shape == (40, 30) and X.nnz > 0 and 1 not in row_labels


@pytest.mark.parametrize("likelihood", ["bernoulli", "poisson", "gaussian"])
def test_make_lbm_random_block_params(likelihood):
    X, _, _ = make_lbm(50, 40, (2, 3), likelihood=likelihood, random_state=15)
    assert X.shape == (50, 40) and np.all(np.isfinite(X))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_rows=0), "n_rows"),
        (dict(n_cols=2.5), "n_cols"),
        (dict(n_clusters=0), "n_clusters"),
        (dict(n_clusters=(2,)), "n_clusters"),
        (dict(n_clusters=(2, 0)), "n_clusters"),
        (dict(n_clusters=2, block_params=np.ones((3, 2)) / 2), "block_params must have shape"),
        (dict(n_clusters=1, block_params=[[1.5]]), "probabilities in \\[0, 1\\]"),
        (dict(n_clusters=1, block_params=[[-0.1]], likelihood="poisson"), "non-negative rates"),
        (dict(n_clusters=1, block_params=[[np.nan]]), "finite"),
        (dict(n_clusters=2, row_proportions=[1.0]), "row_proportions must have shape"),
        (dict(n_clusters=2, row_proportions=[0.5, 0.6]), "row_proportions must sum to 1"),
        (dict(n_clusters=2, column_proportions=[1.5, -0.5]), "column_proportions"),
        (dict(n_rows=2, n_clusters=3), "n_rows=2"),
        (dict(n_cols=1, n_clusters=(1, 2)), "n_cols=1"),
        (dict(likelihood="normal"), "likelihood"),
        (dict(noise_std=-1.0), "noise_std"),
        (dict(row_degree_spread=-0.5), "row_degree_spread"),
        (dict(column_degree_spread=np.inf), "column_degree_spread"),
        (dict(likelihood="gaussian", sparse=True), "sparse=True"),
        (dict(likelihood="gaussian", row_degree_spread=0.5), "degree_spread"),
    ],
)
def test_make_lbm_invalid_parameters(kwargs, match):
    params = dict(n_rows=20, n_cols=10, random_state=0)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_lbm(**params)


# --------------------------------------------------------------------------
# make_latent_position_blocks
# --------------------------------------------------------------------------


def test_make_latent_position_blocks_shapes_and_values():
    X, row_labels, column_labels = make_latent_position_blocks(80, 60, (3, 2), random_state=0)
    assert X.shape == (80, 60) and X.dtype == np.float64
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert row_labels.dtype == np.int64 and set(row_labels) == {0, 1, 2}
    assert column_labels.dtype == np.int64 and set(column_labels) == {0, 1}
    X_again, _, _ = make_latent_position_blocks(80, 60, (3, 2), random_state=0)
    np.testing.assert_array_equal(X, X_again)


def test_make_latent_position_blocks_link_probability():
    # All positions at the origin: every cell is 1 with probability sigmoid(alpha).
    X, _, _ = make_latent_position_blocks(
        300, 200, 2, cluster_spread=0.0, within_std=0.0, alpha=0.5, random_state=1
    )
    assert X.mean() == pytest.approx(1 / (1 + np.exp(-0.5)), abs=0.01)


def test_make_latent_position_blocks_blocks_are_homogeneous():
    # Without within-cluster spread a block's cells share one probability, so blocks are
    # either far (empty) or close (dense): the block densities differ across blocks.
    X, row_labels, column_labels = make_latent_position_blocks(
        300, 200, 3, within_std=0.0, cluster_spread=1.5, alpha=2.0, random_state=2
    )
    means = _block_means(X, row_labels, column_labels, (3, 3))
    assert means.max() - means.min() > 0.3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(latent_dim=0), "latent_dim"),
        (dict(cluster_spread=-1.0), "cluster_spread"),
        (dict(within_std=-0.1), "within_std"),
        (dict(alpha=np.nan), "alpha"),
        (dict(n_rows=2, n_clusters=3), "n_rows=2"),
        (dict(n_clusters=(2, 2, 2)), "n_clusters"),
    ],
)
def test_make_latent_position_blocks_invalid_parameters(kwargs, match):
    params = dict(n_rows=20, n_cols=10, random_state=0)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_latent_position_blocks(**params)


# --------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------


def _matrix_with_empty_lines():
    """6 x 5 count matrix whose row 2, last row and column 3 are empty."""
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 4, size=(6, 5)).astype(np.float64)
    dense[[2, 5], :] = 0
    dense[:, 3] = 0
    return dense


def _assert_loaded_matrix(bunch, dense):
    assert isinstance(bunch.data, sp.csr_matrix) and bunch.data.dtype == np.float64
    assert bunch.data.shape == dense.shape
    np.testing.assert_array_equal(bunch.data.toarray(), dense)


@pytest.mark.parametrize("sparse_storage", [False, True])
def test_load_matlab_round_trip(tmp_path, sparse_storage):
    dense = _matrix_with_empty_lines()
    path = tmp_path / "data.mat"
    scipy.io.savemat(path, {
        "fea": sp.csc_matrix(dense) if sparse_storage else dense,
        "gnd": np.array([[1], [1], [2], [3], [3], [2]]),  # (n, 1) and 1-based, as in MATLAB
        "wordclass": np.array([4, 4, 9, 9, 4]),  # saved as (1, n)
        "words": np.array(["alpha", "b", "", "delta", "e"], dtype=object),  # cell array
        "chars": np.array(["ab", "cde", "f", "gh", "ijk"]),  # padded char matrix
    })
    bunch = load_matlab(path, matrix_key="fea", row_labels_key="gnd",
                        column_labels_key="wordclass", feature_names_key="words")
    _assert_loaded_matrix(bunch, dense)
    assert bunch.row_labels.dtype == np.int64
    np.testing.assert_array_equal(bunch.row_labels, [0, 0, 1, 2, 2, 1])
    np.testing.assert_array_equal(bunch.column_labels, [0, 0, 1, 1, 0])
    assert bunch.feature_names == ["alpha", "b", "", "delta", "e"]
    assert isinstance(bunch.DESCR, str) and "6 rows x 5 columns" in bunch.DESCR

    chars = load_matlab(path, matrix_key="fea", feature_names_key="chars")
    assert chars.feature_names == ["ab", "cde", "f", "gh", "ijk"]
    assert chars.row_labels is None and chars.column_labels is None


def test_load_matlab_errors(tmp_path):
    path = tmp_path / "data.mat"
    scipy.io.savemat(path, {"A": np.eye(3), "gnd": np.array([[1], [2]])})
    with pytest.raises(ValueError, match=r"matrix_key='fea'.*available keys: \['A', 'gnd'\]"):
        load_matlab(path, matrix_key="fea")
    with pytest.raises(ValueError, match=r"row_labels_key='labels'.*\['A', 'gnd'\]"):
        load_matlab(path, matrix_key="A", row_labels_key="labels")
    with pytest.raises(ValueError, match="row_labels .* 2 entries .* 3"):
        load_matlab(path, matrix_key="A", row_labels_key="gnd")
    with pytest.raises(ValueError, match="feature_names .* 2 entries"):
        load_matlab(path, matrix_key="A", feature_names_key="gnd")


def test_load_matrix_market_round_trip(tmp_path):
    dense = _matrix_with_empty_lines()
    path = tmp_path / "data.mtx"
    scipy.io.mmwrite(path, sp.coo_matrix(dense))
    label_file = tmp_path / "rows.txt"
    # Integer labels are compared as integers: 10 comes after 2.
    label_file.write_text("2\n10\n2\n1\n10\n1\n")
    bunch = load_matrix_market(path, row_labels=label_file, column_labels=["x", "y", "x", "z", "y"])
    _assert_loaded_matrix(bunch, dense)
    np.testing.assert_array_equal(bunch.row_labels, [1, 2, 1, 0, 2, 0])
    np.testing.assert_array_equal(bunch.column_labels, [0, 1, 0, 2, 1])
    assert bunch.column_labels.dtype == np.int64 and bunch.feature_names is None

    no_labels = load_matrix_market(str(path))
    assert no_labels.row_labels is None and no_labels.column_labels is None
    with pytest.raises(ValueError, match="column_labels .* 2 entries .* 5"):
        load_matrix_market(path, column_labels=[0, 1])


def test_load_npz_sparse_layout(tmp_path):
    dense = _matrix_with_empty_lines()
    path = tmp_path / "matrix.npz"
    sp.save_npz(path, sp.csr_matrix(dense))
    bunch = load_npz(path)
    _assert_loaded_matrix(bunch, dense)
    assert bunch.row_labels is None and bunch.column_labels is None
    assert bunch.feature_names is None

    # The save_npz arrays plus labels in one archive.
    X = sp.csr_matrix(dense)
    with_labels = tmp_path / "with_labels.npz"
    np.savez_compressed(with_labels, format=np.array("csr"), shape=np.array(X.shape),
                        data=X.data, indices=X.indices, indptr=X.indptr,
                        row_labels=np.array([5, 5, 6, 7, 6, 5]))
    bunch = load_npz(with_labels)
    _assert_loaded_matrix(bunch, dense)
    np.testing.assert_array_equal(bunch.row_labels, [0, 0, 1, 2, 1, 0])


def test_load_npz_dense_layout(tmp_path):
    dense = _matrix_with_empty_lines()
    path = tmp_path / "dense.npz"
    np.savez(path, counts=dense, rows=np.array([[1, 1, 2, 2, 3, 3]]),
             column_labels=np.arange(5), feature_names=np.array(list("abcde")))
    bunch = load_npz(path, matrix_key="counts", row_labels_key="rows")
    _assert_loaded_matrix(bunch, dense)
    np.testing.assert_array_equal(bunch.row_labels, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(bunch.column_labels, np.arange(5))
    assert bunch.feature_names == list("abcde")


def test_load_npz_errors(tmp_path):
    path = tmp_path / "dense.npz"
    np.savez(path, counts=np.eye(3), rows=np.arange(2))
    with pytest.raises(ValueError,
                       match=r"matrix_key='data'.*available keys: \['counts', 'rows'\]"):
        load_npz(path)
    with pytest.raises(ValueError, match=r"row_labels_key='labels'.*\['counts', 'rows'\]"):
        load_npz(path, matrix_key="counts", row_labels_key="labels")
    with pytest.raises(ValueError, match="row_labels .* 2 entries"):
        load_npz(path, matrix_key="counts", row_labels_key="rows")
    flat = tmp_path / "flat.npz"
    np.savez(flat, data=np.arange(4.0))
    with pytest.raises(ValueError, match="2-D"):
        load_npz(flat)


def test_load_cstr():
    bunch = load_cstr()
    assert isinstance(bunch.data, sp.csr_matrix) and bunch.data.dtype == np.float64
    assert bunch.data.shape == (475, 1000)
    assert np.all(bunch.data.data == np.round(bunch.data.data)) and bunch.data.data.min() >= 1
    assert bunch.row_labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(bunch.row_labels), [101, 71, 178, 125])
    assert bunch.column_labels is None
    assert "CSTR" in bunch.DESCR and "NMTFcoclust" in bunch.DESCR
    X, y = load_cstr(return_X_y=True)
    assert X.shape == (475, 1000) and y.shape == (475,)
