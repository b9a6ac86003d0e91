"""Input checks and degree normalisation (skcocluster/_graph.py)."""

import numpy as np
import pytest
import scipy.sparse as sp

from skcocluster._data.validation import (as_csr, check_cluster_counts, check_n_clusters,
                                check_values_for_likelihood, inverse_sqrt_degrees,
                                normalise_adjacency)
from skcocluster._likelihoods import resolve_likelihood


def test_zero_degree_gets_zero_scale_not_inf():
    X = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    row_scale, column_scale = inverse_sqrt_degrees(sp.csr_matrix(X))
    np.testing.assert_allclose(row_scale, [1 / np.sqrt(2), 0.0, 1.0])
    np.testing.assert_allclose(column_scale, [1 / np.sqrt(2), 0.0, 1.0])
    normalised = normalise_adjacency(sp.csr_matrix(X), row_scale, column_scale).toarray()
    assert np.all(np.isfinite(normalised))
    expected = X / np.sqrt(np.outer(X.sum(1).clip(1), X.sum(0).clip(1)))
    np.testing.assert_allclose(normalised, expected)


def test_as_csr_drops_explicit_zeros():
    matrix = sp.coo_matrix(([0.0, 1.0, 1.0], ([0, 1, 1], [0, 1, 1])), shape=(2, 2))
    csr = as_csr(matrix)
    assert csr.nnz == 1 and csr[1, 1] == 2.0


@pytest.mark.parametrize("value, expected", [(3, (3, 3, True)), ((4, 2), (4, 2, False)),
                                             ([2, 5], (2, 5, False))])
def test_check_n_clusters_accepts_int_and_pair(value, expected):
    assert check_n_clusters(value) == expected


@pytest.mark.parametrize("value", [0, -1, 2.5, True, (2,), (2, 0), "3", (1, 2, 3)])
def test_check_n_clusters_rejects(value):
    with pytest.raises(ValueError, match="n_clusters"):
        check_n_clusters(value)


def test_too_many_clusters_is_named():
    with pytest.raises(ValueError, match="5 row clusters but X has only 3 rows"):
        check_cluster_counts((3, 10), 5, 2)
    with pytest.raises(ValueError, match="4 column clusters but X has only 2 columns"):
        check_cluster_counts((10, 2), 2, 4)


@pytest.mark.parametrize("values, expected", [
    ([[0, 1], [1, 0]], "bernoulli"), ([[0, 2], [1, 0]], "poisson"),
    ([[0, 0.5], [0.2, 0]], "poisson"), ([[0, -1], [1, 0]], "gaussian")])
def test_auto_likelihood(values, expected):
    assert resolve_likelihood(sp.csr_matrix(np.array(values, float)), "auto") == expected
    assert resolve_likelihood(sp.csr_matrix(np.array(values, float)), "gaussian") == "gaussian"


@pytest.mark.parametrize("likelihood, values, message", [
    ("bernoulli", [[0, 2.0]], r"likelihood='bernoulli' needs entries in \[0, 1\].*\(X > 0\)"),
    ("bernoulli", [[0, -0.5]], "likelihood='bernoulli' needs entries in"),
    ("poisson", [[0, -0.5]], "likelihood='poisson' needs non-negative entries"),
    ("gaussian", [[0, np.nan]], "NaN"),
    ("poisson", [[0, np.inf]], "infinity"),
    ("bernoulli", [[0, 0]], "no nonzero entry"),
])
def test_bad_values_are_named(likelihood, values, message):
    with pytest.raises(ValueError, match=message):
        check_values_for_likelihood(sp.csr_matrix(np.array(values, float)), likelihood)


def test_empty_matrix_allowed_for_prediction():
    check_values_for_likelihood(sp.csr_matrix((2, 3)), "bernoulli", allow_empty=True)


def test_encoder_input_normalises_new_nodes_as_the_training_matrix():
    from skcocluster._data.validation import EncoderInput

    rng = np.random.default_rng(0)
    values = rng.normal(0.5, 2.0, size=(30, 20))
    csr = sp.csr_matrix(values)
    centred = EncoderInput(csr, centre=True)
    training = centred.training(csr)
    assert isinstance(training, np.ndarray)
    assert abs(training.mean()) < 1e-12
    np.testing.assert_allclose(centred.new_nodes(csr[:5], "row"), training[:5])
    np.testing.assert_allclose(centred.new_nodes(csr.T.tocsr()[:4], "column"), training.T[:4])
    counts = sp.csr_matrix(rng.poisson(1.0, size=(30, 20)).astype(float))
    degrees = EncoderInput(counts, centre=False)
    np.testing.assert_allclose(degrees.new_nodes(counts[:5], "row").toarray(),
                               degrees.training(counts)[:5].toarray())
    assert degrees.skips_first_direction and not centred.skips_first_direction
