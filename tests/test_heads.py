"""The clustering heads share one interface: memberships(mean, log_var) and reorder(order)."""

import numpy as np
import pytest
import torch

from skcocluster._nn.clustering_module import ClusteringModule
from skcocluster._nn.facet_mixture import FacetMixturePrior
from skcocluster._nn.heads import ClusteringHead
from skcocluster._nn.mixture import GaussianMixturePrior
from skcocluster._nn.model import DeepLatentBlockModel


def random_positions(n=9, dim=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, dim, generator=generator),
            torch.randn(n, generator=generator) - 1.0)


def gaussian_head(dim=4):
    head = GaussianMixturePrior(3, dim, shared_variance=False, var_floor=1e-3)
    with torch.no_grad():
        head.means.copy_(torch.randn(3, dim, generator=torch.Generator().manual_seed(1)))
        head.variances.copy_(torch.tensor([0.5, 1.0, 2.0]))
        head.log_proportions.copy_(torch.tensor([0.2, 0.3, 0.5]).log())
    return head


def facet_head():
    head = FacetMixturePrior([3, 2], 2, shared_variance=False, var_floor=1e-3)
    with torch.no_grad():
        head.facets[0].means.copy_(torch.randn(3, 2, generator=torch.Generator().manual_seed(2)))
        head.facets[0].log_proportions.copy_(torch.tensor([0.2, 0.3, 0.5]).log())
    return head


def module_head(dim=4):
    head = ClusteringModule(3, dim, concentration=2.0, orthonormality=0.1)
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.copy_(torch.randn(parameter.shape,
                                        generator=torch.Generator().manual_seed(3)))
    return head


@pytest.mark.parametrize("make_head", [gaussian_head, facet_head, module_head])
def test_memberships_are_stochastic_and_follow_reorder(make_head):
    head = make_head()
    assert isinstance(head, ClusteringHead)
    mean, log_var = random_positions()
    before = head.memberships(mean, log_var).detach()
    np.testing.assert_allclose(before.sum(1).numpy(), 1.0, rtol=1e-5)
    order = np.array([2, 0, 1])
    head.reorder(order)
    after = head.memberships(mean, log_var).detach()
    np.testing.assert_allclose(after.numpy(), before[:, order].numpy(), rtol=1e-5, atol=1e-7)


def tiny_model():
    generator = torch.Generator().manual_seed(0)
    return DeepLatentBlockModel(
        torch.randn(5, 6, generator=generator), torch.randn(4, 6, generator=generator),
        latent_dim=4, n_row_clusters=3, n_column_clusters=2, alpha_init=0.0,
        row_offset_init=None, column_offset_init=None, log_var_floor=-10.0,
        share_first_layer=False, shared_variance=True, var_floor=1e-3, generator=generator)


def test_heads_are_the_priors_until_modules_are_attached():
    model = tiny_model()
    n_parameters = len(model.network_parameters())
    assert model.head("row") is model.row_prior and model.head("column") is model.column_prior
    rows, columns = module_head(), ClusteringModule(2, 4, concentration=2.0, orthonormality=0.1)
    model.attach_clustering_modules(rows, columns)
    assert model.head("row") is rows and model.head("column") is columns
    # Registered sub-modules: trained with the networks.
    assert len(model.network_parameters()) == n_parameters + 8
