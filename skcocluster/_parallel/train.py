"""One restart of the deep latent block model on a row shard (``_train.dlbm.fit_once``).

The same stages as in one process: build, k-means start, pretraining, k-means start,
alternating phase, final state. What differs is behind the data's reducers (the sums over
rows) and three steps here: the copies of the replicated parameters are made equal after
the build, their gradients are summed over processes after every backward pass, and the
k-means start scores its draws with sums over the shards.
"""

import time

import numpy as np
import torch

from .._start.kmeans import kmeans_start
from .._train.build import _centre_intercept, build_model
from .._train.dlbm import SingleFit, alternate, final_state, pretrain
from .._train.explicit_step import MixtureClustering
from .gradients import GradientSum, replicated_parameters
from .start import shard_kmeans_memberships


def process_seed(seed, rank):
    """The seed of one process's draws (positions, sampled cells, first-layer rows).

    Parameters
    ----------
    seed : int
    rank : int

    Returns
    -------
    seed : int
    """
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


@torch.no_grad()
def equalise_replicas(model, data):
    """Give every process rank 0's replicated parameters, then redo what depends on them.

    Each process draws its own first-layer rows, so the draws after them (the column
    layer, the heads) differ between processes; rank 0's are broadcast, then the feature
    scales and the intercept are computed again from the shared state (the intercept from
    the whole matrix's density).

    Parameters
    ----------
    model : DeepLatentBlockModel
    data : TrainingData
        A row shard's.
    """
    reducer = data.reducers[0]
    for tensor in replicated_parameters(model) + list(model.column_encoder.buffers()):
        reducer.broadcast_(tensor)
    likelihood, n_rows = model.likelihood, data.cells.n_all_rows
    model.decoder.alpha.fill_(float(likelihood.initial_eta(data.mean_value, data.cells.n_cells)))
    if model.decoder.degree_corrected:
        offsets = (likelihood.initial_eta(data.column_means, n_rows)
                   - likelihood.initial_eta(data.mean_value, n_rows))
        model.decoder.column_offset.copy_(torch.as_tensor(offsets, dtype=torch.float32))
    model.calibrate(data.adjacency, data.adjacency_t)
    _centre_intercept(model, data)


def fit_shard_once(data, config, init, seed, device, progress):
    """One restart on a row shard; every process of the group calls it together.

    Parameters
    ----------
    data : TrainingData
        This process's shard (:func:`~skcocluster._parallel.shard_data.prepare_shard`).
    config : TrainingConfig
        Its ``n_sampled_cells`` is this shard's part.
    init : {"spectral", "random"}
    seed : int
        The same on every process.
    device : torch.device
    progress : Progress

    Returns
    -------
    fit : SingleFit
        The memberships of this shard's rows and of every column; the lower bound of the
        whole matrix.
    """
    start = time.perf_counter()
    reducer = data.reducers[0]
    generator = torch.Generator(device=device).manual_seed(process_seed(seed, reducer.rank))
    model = build_model(data, config, init, generator, device)
    equalise_replicas(model, data)
    gradient_sum = GradientSum(replicated_parameters(model), reducer)
    try:
        start_resp = kmeans_start(model, data, config, int(seed), shard_kmeans_memberships)
        pretrain_history = pretrain(model, data, config, generator, progress, int(seed))
        kmeans_start(model, data, config, int(seed), shard_kmeans_memberships)
        clustering = MixtureClustering()
        history, converged = alternate(model, data, config, clustering, generator, progress)
        row_resp, column_resp, lower_bound = final_state(model, data, config, clustering)
    finally:
        gradient_sum.remove()
    return SingleFit(model=model, row_resp=row_resp, column_resp=column_resp,
                     lower_bound=lower_bound, history=history,
                     pretrain_history=pretrain_history, n_iter=len(history),
                     converged=converged, seconds=time.perf_counter() - start,
                     start_row_resp=start_resp[0], start_column_resp=start_resp[1])
