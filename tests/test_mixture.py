"""Gaussian-mixture prior: KL matrix and closed-form updates against direct computations."""

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from skcocluster._nn.mixture import (GaussianMixturePrior, entropy_terms, gaussian_kl_matrix,
                                     mixture_update, responsibilities)


@pytest.fixture
def posteriors():
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(12, 3, generator=generator, dtype=torch.float64)
    log_var = torch.randn(12, generator=generator, dtype=torch.float64) * 0.5 - 1
    return mean, log_var


def test_kl_matrix_matches_torch_distributions(posteriors):
    mean, log_var = posteriors
    comp_means = torch.tensor([[0.0, 1.0, 0.0], [2.0, -1.0, 0.5]], dtype=torch.float64)
    comp_vars = torch.tensor([0.5, 2.0], dtype=torch.float64)
    kl = gaussian_kl_matrix(mean, log_var, comp_means, comp_vars)
    for i in range(mean.shape[0]):
        q = MultivariateNormal(mean[i], torch.eye(3, dtype=torch.float64) * log_var[i].exp())
        for k in range(2):
            p = MultivariateNormal(comp_means[k], torch.eye(3, dtype=torch.float64) * comp_vars[k])
            assert kl[i, k].item() == pytest.approx(kl_divergence(q, p).item(), rel=1e-10)


def test_responsibilities_are_normalised_prior_times_exp_minus_kl():
    kl = torch.tensor([[1.0, 2.0, 50.0], [3.0, 0.5, 0.5]], dtype=torch.float64)
    log_prop = torch.log(torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64))
    resp = responsibilities(kl, log_prop)
    direct = log_prop.exp() * torch.exp(-kl)
    torch.testing.assert_close(resp, direct / direct.sum(1, keepdim=True))


@pytest.mark.parametrize("shared", [False, True])
def test_mixture_update_matches_direct_formulas(posteriors, shared):
    mean, log_var = posteriors
    resp = torch.softmax(torch.randn(12, 3, generator=torch.Generator().manual_seed(1),
                                     dtype=torch.float64), 1)
    proportions, means, variances = mixture_update(resp, mean, log_var, shared_variance=shared,
                                                   var_floor=1e-9)
    r, m, v = resp.numpy(), mean.numpy(), log_var.exp().numpy()
    np.testing.assert_allclose(proportions.numpy(), r.mean(0))
    direct_means = (r.T @ m) / r.sum(0)[:, None]
    np.testing.assert_allclose(means.numpy(), direct_means)
    spread = np.array([[3 * v[i] + np.sum((direct_means[k] - m[i]) ** 2) for k in range(3)]
                       for i in range(12)]) * r
    if shared:
        np.testing.assert_allclose(variances.numpy(), np.full(3, spread.sum() / (3 * 12)))
    else:
        np.testing.assert_allclose(variances.numpy(), spread.sum(0) / (3 * r.sum(0)))


def test_empty_cluster_keeps_finite_parameters(posteriors):
    mean, log_var = posteriors
    resp = torch.zeros(12, 3, dtype=torch.float64)
    resp[:, 0] = 1.0
    proportions, means, variances = mixture_update(resp, mean, log_var, shared_variance=False,
                                                   var_floor=1e-6)
    assert torch.all(proportions > 0) and torch.isfinite(proportions.log()).all()
    assert torch.isfinite(means).all() and torch.all(variances >= 1e-6)


def test_explicit_step_does_not_decrease_the_prior_terms(posteriors):
    mean, log_var = (t.float() for t in posteriors)
    prior = GaussianMixturePrior(3, 3, shared_variance=False, var_floor=1e-6)
    prior.means.copy_(torch.randn(3, 3, generator=torch.Generator().manual_seed(2)))
    values = []
    for _ in range(5):
        prior.explicit_step(mean, log_var)
        values.append(float(prior.prior_terms(prior.responsibilities(mean, log_var), mean,
                                              log_var)))
    assert all(b >= a - 1e-4 for a, b in zip(values, values[1:]))


def test_entropy_terms_handle_zero_memberships():
    resp = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    log_prop = torch.log(torch.tensor([0.5, 0.5]))
    expected = (1.0 * np.log(0.5)) + 2 * 0.5 * (np.log(0.5) - np.log(0.5))
    assert float(entropy_terms(resp, log_prop)) == pytest.approx(expected, rel=1e-6)
