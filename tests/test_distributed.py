"""Row-sharded training (skcocluster.distributed) in worlds of two gloo processes.

The processes are spawned by the tests and talk over loopback only. Each checks its
sharded computations against the same computations on the whole matrix in one process
(identity reducers): data, encoders, mixture statistics, objective, gradients, start
scores, and every sum of the refinement stage. A last test fits a planted matrix on two
processes and on one.
"""

import socket

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._likelihoods import make_likelihood
from skcocluster._nn.model import DeepLatentBlockModel
from skcocluster._objective.prior import MixtureTerm, StandardNormalTerm
from skcocluster._objective.reconstruction import reconstruction_term
from skcocluster._parallel.gradients import GradientSum, replicated_parameters
from skcocluster._parallel.reducer import ProcessGroupReducer, Reducer
from skcocluster._parallel.shard_data import prepare_shard
from skcocluster._parallel.shard_io import row_bounds
from skcocluster._refine.block_em import refine_block_model, refine_degree_corrected
from skcocluster._refine.held_out import (block_model_is_adequate, held_out_cells,
                                          held_out_scores, one_sided_score)
from skcocluster._refine.repair import fill_empty_clusters
from skcocluster._refine.sharding import WHOLE, Sharding
from skcocluster._refine.stage import RefinementStage
from skcocluster._train.loop import EpochState
from skcocluster.datasets import make_lbm
from skcocluster.distributed import fit_distributed, gather_row_labels, load_row_shard
from skcocluster.metrics import coclustering_adjusted_rand_score

WORLD = 2
N_ROWS, N_COLS, HIDDEN, LATENT = 45, 32, 8, 3


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_world(worker, *args):
    """Run ``worker(rank, *args)`` in WORLD gloo processes on loopback."""
    mp.spawn(_init_and_run, args=(worker, _free_port(), args), nprocs=WORLD, join=True)


def _init_and_run(rank, worker, port, args):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)
    try:
        worker(rank, *args)
    finally:
        dist.destroy_process_group()


def _small_matrix():
    rng = np.random.default_rng(3)
    dense = (rng.random((N_ROWS, N_COLS)) < 0.25).astype(float)
    dense[:, 5] = 0.0  # an empty column
    return sp.csr_matrix(dense)


def _model(data, row_slice, seed=0):
    """A model with the same parameters whatever the shard (row parameters sliced)."""
    generator = torch.Generator().manual_seed(seed)
    row_layer = torch.randn(N_ROWS, HIDDEN, generator=generator)[row_slice]
    column_layer = torch.randn(N_COLS, HIDDEN, generator=generator)
    offsets = torch.randn(N_ROWS, generator=generator)[row_slice] * 0.1
    model = DeepLatentBlockModel(
        row_layer, column_layer, latent_dim=LATENT, n_row_clusters=3, n_column_clusters=2,
        alpha_init=-1.0, row_offset_init=offsets, column_offset_init=torch.zeros(N_COLS),
        log_var_floor=-10.0, share_first_layer=True, shared_variance=False, var_floor=1e-6,
        generator=torch.Generator().manual_seed(seed + 1))
    model.likelihood = make_likelihood("bernoulli")
    model.set_reducers(*data.reducers)
    model.calibrate(data.adjacency, data.adjacency_t)
    return model


def _memberships(n_nodes, n_clusters, first):
    """Fixed soft memberships of nodes ``first, first + 1, ...``."""
    index = torch.arange(first, first + n_nodes, dtype=torch.float32)[:, None]
    return torch.softmax(torch.sin(index * torch.arange(1.0, n_clusters + 1)), dim=1)


def _objective_and_grads(model, data, row_first, reducer):
    """Reconstruction, both mixture terms and the standard-normal term, and gradients."""
    gradient_sum = GradientSum(replicated_parameters(model), reducer)
    posteriors = model.encode(data.adjacency, data.adjacency_t)
    memberships = (_memberships(posteriors[0].shape[0], 3, row_first),
                   _memberships(N_COLS, 2, 0))
    model.row_prior.update(memberships[0], posteriors[0].detach(), posteriors[1].detach())
    model.column_prior.update(memberships[1], posteriors[2].detach(), posteriors[3].detach())
    state = EpochState(posteriors=posteriors, memberships=memberships, reducers=data.reducers)
    value = (reconstruction_term(model.decoder, model.likelihood, posteriors[0], posteriors[2],
                                 data.cells, chunk_cells=64)
             + MixtureTerm(model.row_prior, 0).value(state)
             + MixtureTerm(model.column_prior, 1).value(state)
             + StandardNormalTerm(0.1).value(state))
    value.backward()
    gradient_sum.remove()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return reducer.sum(value.detach()), posteriors, grads


def _collectives_worker(rank):
    csr = _small_matrix()
    start, stop = row_bounds(N_ROWS, rank, WORLD)
    reducer = ProcessGroupReducer()
    whole = prepare_shard(csr, Reducer(), HIDDEN, torch.device("cpu"), seed=0)
    shard = prepare_shard(csr[start:stop], reducer, HIDDEN, torch.device("cpu"), seed=0)
    close = dict(rtol=1e-4, atol=1e-5)
    # data: the normalisation by the global column degrees, the totals, the spectral start
    torch.testing.assert_close(shard.adjacency.to_dense(), whole.adjacency.to_dense()[start:stop])
    assert shard.cells.n_cells == whole.cells.n_cells
    np.testing.assert_allclose(shard.column_means, whole.column_means)
    assert shard.mean_value == pytest.approx(whole.mean_value)
    np.testing.assert_allclose(shard.column_singular, whole.column_singular, atol=1e-6)
    scale = np.sqrt(N_ROWS / (stop - start))
    np.testing.assert_allclose(shard.row_singular / scale, whole.row_singular[start:stop],
                               atol=1e-6)
    # encoders, mixture statistics, objective and gradients
    value_whole, post_whole, grads_whole = _objective_and_grads(
        _model(whole, slice(None)), whole, 0, Reducer())
    model = _model(shard, slice(start, stop))
    value, posteriors, grads = _objective_and_grads(model, shard, start, reducer)
    torch.testing.assert_close(posteriors[0], post_whole[0][start:stop], **close)
    torch.testing.assert_close(posteriors[2], post_whole[2], **close)
    model_whole = _model(whole, slice(None))
    _objective_and_grads(model_whole, whole, 0, Reducer())
    for buffer in ("means", "variances", "log_proportions"):
        torch.testing.assert_close(getattr(model.row_prior, buffer),
                                   getattr(model_whole.row_prior, buffer), **close)
    torch.testing.assert_close(value, value_whole, rtol=1e-5, atol=1e-3)
    per_row = {"row_encoder.first_layer", "decoder.row_offset"}
    for name, grad in grads.items():
        expected = grads_whole[name][start:stop] if name in per_row else grads_whole[name]
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-4, msg=name)
    np.testing.assert_array_equal(reducer.gather(torch.arange(start, stop)).numpy(),
                                  np.arange(N_ROWS))


def _refinement_worker(rank):
    """The refinement stage's sums on a row shard against those of the whole matrix."""
    X, rows, columns = _planted()
    csr = sp.csr_matrix(X, dtype=float)
    start, stop = row_bounds(csr.shape[0], rank, WORLD)
    shard, sharding = csr[start:stop], Sharding.of_rows(ProcessGroupReducer())
    rng = np.random.default_rng(0)
    noisy = np.where(rng.random(csr.shape[0]) < 0.3, rng.integers(3, size=csr.shape[0]), rows)
    # four row clusters, one empty; the third column cluster merged into the second
    row_resp, column_resp = np.eye(4)[noisy], np.eye(3)[np.minimum(columns, 1)]
    start_partition = (np.eye(4)[(rows + noisy) % 4], np.eye(3)[columns])

    def same(whole, sharded, **tolerance):
        """A pair of (row, column) arrays: the shard's rows of the whole's, every column."""
        np.testing.assert_allclose(sharded[0], whole[0][start:stop], **tolerance)
        np.testing.assert_allclose(sharded[1], whole[1], **tolerance)

    close = dict(rtol=1e-9, atol=1e-12)
    same(refine_block_model(csr, row_resp, column_resp)[:2],
         refine_block_model(shard, row_resp[start:stop], column_resp, sharding=sharding)[:2],
         **close)
    same(refine_degree_corrected(csr, row_resp, column_resp),
         refine_degree_corrected(shard, row_resp[start:stop], column_resp, sharding=sharding),
         **close)
    same(fill_empty_clusters(csr, row_resp, column_resp, "bernoulli"),
         fill_empty_clusters(shard, row_resp[start:stop], column_resp, "bernoulli",
                             sharding=sharding))
    held_whole, held_shard = held_out_cells(csr), held_out_cells(shard, sharding=sharding)
    mine = (held_whole[0] >= start) & (held_whole[0] < stop)
    np.testing.assert_array_equal(held_shard[0], held_whole[0][mine] - start)
    np.testing.assert_array_equal(held_shard[2], held_whole[2][mine])
    labels = noisy, np.minimum(columns, 1)
    for likelihood in ("bernoulli", "poisson"):
        np.testing.assert_allclose(
            held_out_scores(shard, likelihood, labels[0][start:stop], labels[1], held_shard,
                            sharding),
            held_out_scores(csr, likelihood, *labels, held_whole), rtol=1e-9)
        assert one_sided_score(shard, likelihood, labels[0][start:stop], held_shard,
                               sharding) == pytest.approx(
            one_sided_score(csr, likelihood, labels[0], held_whole), rel=1e-9)
        transposed = held_shard[1], held_shard[0], held_shard[2]
        assert one_sided_score(shard.T.tocsr(), likelihood, labels[1], transposed,
                               sharding.T) == pytest.approx(one_sided_score(
            csr.T.tocsr(), likelihood, labels[1], (held_whole[1], held_whole[0],
                                                   held_whole[2])), rel=1e-9)
        assert block_model_is_adequate(shard, likelihood, labels[0][start:stop], labels[1],
                                       held_shard, sharding=sharding) == (
            block_model_is_adequate(csr, likelihood, *labels, held_whole))
    stage = RefinementStage(own_name="deep", keep_own_if_inadequate=True)
    whole = stage.fit(csr, (row_resp, column_resp), start_partition, "poisson", WHOLE)
    sharded = stage.fit(shard, (row_resp[start:stop], column_resp),
                        (start_partition[0][start:stop], start_partition[1]), "poisson",
                        sharding)
    assert sharded.refined_from == whole.refined_from != "deep"
    same((whole.row_resp, whole.column_resp), (sharded.row_resp, sharded.column_resp),
         **close)


def _planted():
    block = np.full((3, 3), 0.04) + np.eye(3) * 0.16
    return make_lbm(500, 250, 3, block_params=block, sparse=True, random_state=1)


FIT_PARAMS = dict(random_state=0)  # with the block-model refinement (the default)


def _world_worker(rank, path, folder):
    """The checks of the sums (their failure recorded, not raised), then a sharded fit on
    both processes, and one on a group of process 0 alone."""
    for name, checks in (("collectives", _collectives_worker),
                         ("refinement", _refinement_worker)):
        try:
            checks(rank)
            failure = ""
        except AssertionError as error:
            failure = f"rank {rank}: {error}"
        with open(f"{folder}/{name}_{rank}.txt", "w") as handle:
            handle.write(failure)
    csr, row_start, shape = load_row_shard(path)
    assert shape == (500, 250) and row_start == row_bounds(500, rank, WORLD)[0]
    fit = fit_distributed(csr, 3, **FIT_PARAMS)
    row_labels = gather_row_labels(fit)
    alone = dist.new_group([0])  # every process takes part in making a group
    if rank == 0:
        np.savez(f"{folder}/labels.npz", row_labels=row_labels,
                 column_labels=fit.column_labels, lower_bound=fit.lower_bound,
                 refined_from=fit.refined_from)
        one = fit_distributed(sp.load_npz(path), 3, group=alone, **FIT_PARAMS)
        np.savez(f"{folder}/one.npz", row_labels=one.row_labels,
                 column_labels=one.column_labels, refined_from=one.refined_from)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One world of two processes (a spawn costs seconds) runs every sharded check."""
    folder = tmp_path_factory.mktemp("world")
    X, rows, columns = _planted()
    sp.save_npz(str(folder / "planted.npz"), sp.csr_matrix(X))
    _run_world(_world_worker, str(folder / "planted.npz"), str(folder))
    return folder, X, rows, columns


@pytest.mark.parametrize("checks", ["collectives", "refinement"])
def test_sharded_sums_equal_single_process_sums(world, checks):
    folder = world[0]
    failures = [(folder / f"{checks}_{rank}.txt").read_text() for rank in range(WORLD)]
    assert failures == [""] * WORLD, "\n".join(failures)


def test_two_processes_find_the_partition_of_one(world):
    folder, X, rows, columns = world
    labels = np.load(folder / "labels.npz")
    sharded = coclustering_adjusted_rand_score(rows, columns, labels["row_labels"],
                                               labels["column_labels"])
    single = DeepLatentBlockCoclustering(3, **FIT_PARAMS).fit(X)
    whole = coclustering_adjusted_rand_score(rows, columns, single.row_labels_,
                                             single.column_labels_)
    assert whole > 0.9
    assert sharded >= whole - 0.02
    assert np.isfinite(labels["lower_bound"])
    # one process of a group: the estimator's partition, refinement included
    one = np.load(folder / "one.npz")
    np.testing.assert_array_equal(one["row_labels"], single.row_labels_)
    assert coclustering_adjusted_rand_score(single.row_labels_, single.column_labels_,
                                            one["row_labels"], one["column_labels"]) == 1.0
    assert str(one["refined_from"]) == single.refined_from_


@pytest.mark.parametrize("suffix", [".npz", ".mtx"])
def test_a_shard_is_read_without_the_rest(tmp_path, suffix):
    X = sp.random(30, 12, density=0.2, format="csr", random_state=0)
    path = str(tmp_path / f"matrix{suffix}")
    sp.save_npz(path, X) if suffix == ".npz" else scipy.io.mmwrite(path, X)
    parts = [load_row_shard(path, rank, 4) for rank in range(4)]
    assert [start for _, start, _ in parts] == [0, 7, 15, 22]
    np.testing.assert_allclose(sp.vstack([csr for csr, _, _ in parts]).toarray(), X.toarray())
    assert all(shape == (30, 12) for _, _, shape in parts)


@pytest.mark.parametrize("option", [dict(clustering="module"), dict(n_facets=2),
                                    dict(graph_weight=0.5)])
def test_unsupported_options_are_refused_by_name(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        fit_distributed(sp.csr_matrix(np.eye(4)), 2, **option)


def test_a_coo_npz_file_is_refused(tmp_path):
    path = str(tmp_path / "matrix.npz")
    sp.save_npz(path, sp.coo_matrix(np.eye(4)))
    with pytest.raises(ValueError, match="CSR"):
        load_row_shard(path, 0, 1)


def test_the_sharded_svd_finds_the_leading_singular_vectors():
    from sklearn.utils.extmath import randomized_svd

    from skcocluster._parallel.svd import sharded_randomized_svd

    X, _, _ = _planted()
    # three planted clusters: singular values 33.8, 20.6, 19.6, then noise from 10.6
    u, v = sharded_randomized_svd(sp.csr_matrix(X, dtype=float), 3, Reducer(), seed=0)
    u_ref, _, vt_ref = randomized_svd(sp.csr_matrix(X, dtype=float), 3, random_state=0)
    # the same subspaces: every principal cosine near 1 (the close second and third
    # directions may rotate into each other)
    for ours, reference in ((u, u_ref), (v, vt_ref.T)):
        cosines = np.linalg.svd(ours.T @ reference, compute_uv=False)
        np.testing.assert_allclose(cosines, 1.0, atol=1e-4)
    np.testing.assert_allclose(v.T @ v, np.eye(3), atol=1e-8)


def test_automatic_cluster_counts_are_refused_by_name():
    with pytest.raises(ValueError, match="n_clusters='auto'"):
        fit_distributed(sp.csr_matrix(np.eye(4)), "auto", block_refinement=False)


def test_auto_device_follows_the_backend():
    # gloo trains on the CPU even on a machine with a GPU (the default device='auto').
    from skcocluster.distributed import _process_device

    assert _process_device("auto", "gloo") == torch.device("cpu")
    with pytest.raises(ValueError, match="does not suit the 'nccl' backend"):
        _process_device("cpu", "nccl")
