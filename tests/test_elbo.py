"""The reconstruction term against scipy.stats and autograd, exact and sampled."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from skcocluster._data.device import cell_data
from skcocluster._objective.reconstruction import (_cyclic_add, _cyclic_slice,
                                                   _sampled_all_cells, gaussian_noise_variance,
                                                  reconstruction_term)
from skcocluster._nn.decoders import LatentPositionDecoder
from skcocluster._likelihoods import make_likelihood

N_ROWS, N_COLS, DIM = 7, 5, 3


def matrix(likelihood, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((N_ROWS, N_COLS)) < 0.5
    if likelihood == "bernoulli":
        values = mask.astype(float)
    elif likelihood == "poisson":
        values = mask * rng.poisson(3.0, size=mask.shape)
    else:
        values = mask * rng.normal(size=mask.shape)
    values[2] = 0.0  # an empty row
    return values


def scipy_log_likelihood(likelihood, values, eta, noise_var):
    if likelihood == "bernoulli":
        return stats.bernoulli.logpmf(values, 1 / (1 + np.exp(-eta))).sum()
    if likelihood == "poisson":
        return stats.poisson.logpmf(values, np.exp(eta)).sum()
    return stats.norm.logpdf(values, eta, np.sqrt(noise_var)).sum()


def model_parts(degree_corrected, seed=0):
    generator = torch.Generator().manual_seed(seed)
    decoder = LatentPositionDecoder(
        -0.3, torch.randn(N_ROWS, generator=generator) if degree_corrected else None,
        torch.randn(N_COLS, generator=generator) if degree_corrected else None)
    rows = torch.randn(N_ROWS, DIM, generator=generator).requires_grad_()
    cols = torch.randn(N_COLS, DIM, generator=generator).requires_grad_()
    return decoder, rows, cols


def gradients(value, decoder, rows, cols):
    params = [rows, cols] + list(decoder.parameters())
    return torch.autograd.grad(value, params)


@pytest.mark.parametrize("likelihood", ["bernoulli", "poisson", "gaussian"])
@pytest.mark.parametrize("degree_corrected", [False, True])
@pytest.mark.parametrize("dense", [True, False])
def test_exact_term_matches_scipy_and_autograd(likelihood, degree_corrected, dense):
    values = matrix(likelihood)
    like = make_likelihood(likelihood, noise_var=0.7)
    decoder, rows, cols = model_parts(degree_corrected)
    cells = cell_data(sp.csr_matrix(values), "cpu", dense)
    value = reconstruction_term(decoder, like, rows, cols, cells, chunk_cells=6)
    eta = decoder.block_logits(rows, cols)
    expected = scipy_log_likelihood(likelihood, values, eta.detach().double().numpy(), 0.7)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    # Gradients: the same as autograd through a direct dense computation.
    a = torch.as_tensor(values, dtype=torch.float32)
    direct = (a * eta * like.nonzero_scale + like.all_cells(eta)).sum()
    for ours, reference in zip(gradients(value, decoder, rows, cols),
                               gradients(direct, decoder, rows, cols)):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)


# 5 cells of a 7-row matrix are drawn uniformly; 14 are stratified by row (2 per row).
# fewer cells than rows (uniform draws), two a row, and more a row than there are columns
SAMPLE_SIZES = [5, 14, 50]


@pytest.mark.parametrize("n_sampled", SAMPLE_SIZES)
def test_sampled_term_is_unbiased(n_sampled):
    values = matrix("bernoulli")
    like = make_likelihood("bernoulli")
    decoder, rows, cols = model_parts(True)
    cells = cell_data(sp.csr_matrix(values), "cpu", True)
    with torch.no_grad():
        exact = reconstruction_term(decoder, like, rows, cols, cells).item()
        generator = torch.Generator().manual_seed(0)
        draws = [reconstruction_term(decoder, like, rows, cols, cells, n_sampled_cells=n_sampled,
                                     generator=generator).item() for _ in range(2000)]
    standard_error = np.std(draws) / np.sqrt(len(draws))
    assert abs(np.mean(draws) - exact) < 4 * standard_error
    assert np.std(draws) > 0  # it is really sampling


@pytest.mark.parametrize("n_sampled", SAMPLE_SIZES)
def test_sampled_gradient_is_unbiased(n_sampled):
    values = matrix("poisson")
    like = make_likelihood("poisson")
    decoder, rows, cols = model_parts(True)
    cells = cell_data(sp.csr_matrix(values), "cpu", True)
    exact = gradients(reconstruction_term(decoder, like, rows, cols, cells), decoder, rows,
                      cols)
    generator = torch.Generator().manual_seed(1)
    draws = [gradients(reconstruction_term(decoder, like, rows, cols, cells,
                                           n_sampled_cells=n_sampled, generator=generator),
                       decoder, rows, cols) for _ in range(1000)]
    # Every gradient: positions of rows and columns, alpha and both offsets.
    for index, exact_grad in enumerate(exact):
        sampled = torch.stack([draw[index] for draw in draws])
        error = (sampled.mean(0) - exact_grad).abs()
        assert torch.all(error < 4 * sampled.std(0) / np.sqrt(len(draws)) + 1e-4)
        assert torch.any(sampled.std(0) > 0)


@pytest.mark.parametrize("n_sampled", SAMPLE_SIZES)
def test_sampled_term_in_chunks_is_the_same_sum(n_sampled):
    # the same drawn cells visited in chunks of 1 or 4 cells give the value and every
    # gradient of one pass over all of them
    decoder, rows, cols = model_parts(True)
    like = make_likelihood("poisson")
    results = []
    for chunk_cells in (10 ** 6, 4, 1):
        generator = torch.Generator().manual_seed(3)
        results.append(_sampled_all_cells(decoder, like, rows.detach(), cols.detach(),
                                          n_sampled, generator, True, chunk_cells))
    whole_value, whole_grads = results[0]
    for value, grads in results[1:]:
        assert value.item() == pytest.approx(whole_value.item(), rel=1e-5)
        assert grads.keys() == whole_grads.keys()
        for name, grad in grads.items():
            torch.testing.assert_close(grad, whole_grads[name], rtol=1e-5, atol=1e-5)


def test_gaussian_noise_variance_is_the_mean_squared_residual():
    values = matrix("gaussian")
    decoder, rows, cols = model_parts(True)
    cells = cell_data(sp.csr_matrix(values), "cpu", False)
    with torch.no_grad():
        eta = decoder.block_logits(rows, cols).double().numpy()
        ours = gaussian_noise_variance(decoder, rows.detach(), cols.detach(), cells,
                                       chunk_cells=4)
    assert ours == pytest.approx(np.mean((values - eta) ** 2), rel=1e-5)


@pytest.mark.parametrize("start, length", [(0, 3), (3, 4), (2, 5), (4, 23), (0, 20)])
def test_cyclic_windows_read_and_add_modulo_the_length(start, length):
    values = torch.arange(5.0)[:, None] * torch.tensor([1.0, 10.0])
    index = (start + torch.arange(length)) % 5
    torch.testing.assert_close(_cyclic_slice(values, start, length), values[index])
    added = torch.randn(length, 2, generator=torch.Generator().manual_seed(0))
    target = torch.ones(5, 2)
    _cyclic_add(target, added, start)
    torch.testing.assert_close(target, torch.ones(5, 2).index_add_(0, index, added))


def test_windowed_cells_draw_every_column_equally_often():
    # with every logit 0 the slope is the same for every cell, so a column's offset
    # gradient counts its drawn cells: over all rows, the same number to one
    decoder = LatentPositionDecoder(0.0)
    like = make_likelihood("bernoulli")
    rows, cols = torch.zeros(N_ROWS, DIM), torch.zeros(N_COLS, DIM)
    _, grads = _sampled_all_cells(decoder, like, rows, cols, N_ROWS * 3,
                                  torch.Generator().manual_seed(0), True)
    per_cell = grads["alpha"] / (N_ROWS * 3)
    counts = grads["column_offset"] / per_cell
    torch.testing.assert_close(counts, counts.round())
    assert counts.sum().item() == pytest.approx(N_ROWS * 3)
    assert counts.max() - counts.min() <= 1
