"""A diagnostic of VariationalCoclustering's training, outside the fit: the spread of the
encoder gradient under the two gradient estimators (``gradient='dreg'`` or ``'iwae'``).

Used by the ablation of ``benchmarks/variational.py`` and by the tests of the gradient
switch; nothing in the fit calls it.
"""

import numpy as np
import torch

from .._data.variational import gather
from .._likelihoods import make_likelihood


def encoder_gradient_draws(model, data, config, row_ids, n_draws, seed, device):
    """Gradients of the row bound with respect to the row encoder's output heads over
    ``n_draws`` independent draws (same parameters, same batch).

    DReG and the plain IWAE gradient should agree in their mean and differ in their spread.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    data : VariationalData
    config : VariationalConfig
        Its ``gradient``, ``n_samples`` and ``likelihood``.
    row_ids : LongTensor of shape (n,)
        The batch.
    n_draws : int
    seed : int
        Seeds the draws.
    device : torch.device

    Returns
    -------
    grads : ndarray of shape (n_draws, n_parameters)
    """
    likelihood = make_likelihood(config.likelihood, data.noise_var)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    vae = model.rows
    heads = list(vae.encoder.mean.parameters()) + list(vae.encoder.log_var.parameters())
    batch = gather(data.rows, row_ids)
    items = torch.arange(data.rows.n_items, device=device)
    draws = []
    for _ in range(n_draws):
        bound, _ = vae.bound(batch, likelihood, items, config.n_samples, config.gradient,
                             generator)
        grads = torch.autograd.grad(bound.sum(), heads)
        draws.append(torch.cat([g.reshape(-1) for g in grads]).cpu().numpy())
    return np.stack(draws)
