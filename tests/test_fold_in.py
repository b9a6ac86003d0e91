"""New rows' offsets under degree correction: the maximiser of their own cells' likelihood."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import optimize, stats

from skcocluster._fold_in import fold_in_row_offsets
from skcocluster._nn.decoders import LatentPositionDecoder
from skcocluster._likelihoods import make_likelihood


def tiny_problem(name, seed=0):
    rng = np.random.default_rng(seed)
    row_mean = torch.as_tensor(rng.normal(size=(6, 2)), dtype=torch.float64)
    column_mean = torch.as_tensor(rng.normal(size=(9, 2)), dtype=torch.float64)
    decoder = LatentPositionDecoder(-0.5, torch.zeros(6, dtype=torch.float64),
                                    torch.as_tensor(rng.normal(0, 0.5, 9)))
    decoder.double()
    if name == "bernoulli":
        values = rng.random((6, 9)) < 0.4
        # neither empty nor full rows, whose maximiser is infinite (tested below)
        values[:, 0], values[:, 1] = True, False
    elif name == "poisson":
        values = rng.poisson(1.5, size=(6, 9))
    else:
        values = rng.normal(0.3, 1.0, size=(6, 9))
    return decoder, row_mean, column_mean, np.asarray(values, dtype=np.float64)


def direct_log_likelihood(name, values, eta):
    if name == "bernoulli":
        return stats.bernoulli.logpmf(values, 1.0 / (1.0 + np.exp(-eta))).sum()
    if name == "poisson":
        return stats.poisson.logpmf(values, np.exp(eta)).sum()
    return stats.norm.logpdf(values, eta, 1.0).sum()


@pytest.mark.parametrize("name", ["bernoulli", "poisson", "gaussian"])
def test_offsets_maximise_the_rows_own_likelihood(name):
    decoder, row_mean, column_mean, values = tiny_problem(name)
    likelihood = make_likelihood(name)
    offsets = fold_in_row_offsets(decoder, likelihood, row_mean, column_mean,
                                  sp.csr_matrix(values)).numpy()
    sq_dist = ((row_mean[:, None, :] - column_mean[None]) ** 2).sum(-1).numpy()
    base = -0.5 + decoder.column_offset.detach().numpy()[None, :] - sq_dist
    for i in range(values.shape[0]):
        best = optimize.minimize_scalar(
            lambda a: -direct_log_likelihood(name, values[i], base[i] + a),
            bounds=(-30, 30), method="bounded", options=dict(xatol=1e-10))
        assert offsets[i] == pytest.approx(best.x, abs=1e-4)


def test_empty_and_full_rows_get_finite_offsets():
    decoder, row_mean, column_mean, _ = tiny_problem("bernoulli")
    values = np.zeros((6, 9))
    values[1] = 1.0
    offsets = fold_in_row_offsets(decoder, make_likelihood("bernoulli"), row_mean,
                                  column_mean, sp.csr_matrix(values)).numpy()
    assert np.all(np.isfinite(offsets))
    assert offsets[1] > offsets[0]
