"""Data-parallel training of the deep latent block model on ``torch.distributed``.

Each process of a group holds a contiguous shard of the matrix's rows (and the matching
columns of its transpose), never the whole matrix; the columns' parameters are replicated.
Sums over rows (the encoders' products with ``Abar^T``, the mixtures' statistics, the
objective, the k-means start's scores) are all-reduces; the gradients of the replicated
parameters are summed after every backward pass. The same code runs on CPUs (``gloo``)
and on GPUs (``nccl``, one process per GPU). Launch it the way torch jobs are launched::

    torchrun --nproc_per_node 4 -m skcocluster.distributed matrix.npz \\
        --n-clusters 10 --output labels.npz

or call :func:`fit_distributed` from a script started by ``torchrun`` after
``torch.distributed.init_process_group``. The block-model refinement and the final choice
(``block_refinement``, the default) run on the shards with the estimator's own functions,
their sums all-reduced; only while a refinement leaves a row cluster empty is every row's
sum over the column clusters (M x Q floats) gathered, for the 2-means that splits a
cluster. What a sharded fit does not do: facets, the clustering module, the graph
regulariser and the Gaussian likelihood; see the user guide, "Larger than one machine".
"""

import argparse
import json
import os
import resource
import time
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
import torch.distributed as dist
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from ._data.device import resolve_device
from ._data.validation import as_csr, check_values_for_likelihood
from ._dlbm import DeepLatentBlockCoclustering
from ._likelihoods import resolve_likelihood
from ._parallel.reducer import ProcessGroupReducer
from ._parallel.shard_data import prepare_shard
from ._parallel.shard_io import matrix_shape, read_rows, row_bounds
from ._parallel.train import fit_shard_once
from ._refine.partition import FittedPartition
from ._refine.sharding import Sharding
from ._threads import n_threads
from ._train.progress import Progress

__all__ = ["DistributedFit", "fit_distributed", "gather_row_labels", "load_row_shard"]

# The likelihoods a sharded fit supports, in the order 'auto' prefers the more general.
SHARDED_LIKELIHOODS = ("bernoulli", "poisson")
# Estimator options a sharded fit does not support, with the value it requires.
UNSUPPORTED = {"clustering": "gmm", "graph_weight": 0.0, "n_facets": 1}


@dataclass
class DistributedFit:
    """The outcome of :func:`fit_distributed` on one process.

    Attributes
    ----------
    row_labels : ndarray of shape (n_local_rows,)
        Labels of this process's rows (:func:`gather_row_labels` collects them all).
    column_labels : ndarray of shape (n_columns,)
        Labels of every column (the same on every process).
    row_start : int
        Index of this process's first row in the whole matrix.
    shape : tuple of int
        Shape of the whole matrix.
    lower_bound : float
        Objective per cell of the kept restart (the whole matrix's).
    n_iter : int
        Epochs of its alternating phase.
    converged : bool
    seconds : float
        Wall seconds of the fit on this process.
    history : list of float
        Objective per cell of each epoch of the kept restart.
    refined_from : str or None
        With ``block_refinement``, the candidate reported (as the estimator's
        ``refined_from_``: 'deep', 'deep + block EM', ...); None without.
    """

    row_labels: np.ndarray
    column_labels: np.ndarray
    row_start: int
    shape: tuple
    lower_bound: float
    n_iter: int
    converged: bool
    seconds: float
    history: list = field(default_factory=list)
    refined_from: str = None


def load_row_shard(path, rank=None, world_size=None):
    """Read this process's contiguous shard of the rows of a matrix file.

    Process ``r`` of ``N`` gets rows ``[M r // N, M (r + 1) // N)``; only those rows are
    kept in memory (a ``.npz`` file is streamed through, not loaded).

    Parameters
    ----------
    path : str
        A ``.npz`` file written by ``scipy.sparse.save_npz`` from a CSR matrix, or a
        Matrix Market coordinate file (``.mtx``).
    rank, world_size : int, optional
        This process's rank and the number of processes; by default those of the
        initialised default process group.

    Returns
    -------
    csr : scipy.sparse.csr_matrix of shape (n_local_rows, n_columns)
    row_start : int
        Index of the shard's first row in the whole matrix.
    shape : tuple of int
        Shape of the whole matrix.
    """
    rank = dist.get_rank() if rank is None else rank
    world_size = dist.get_world_size() if world_size is None else world_size
    start, stop = row_bounds(matrix_shape(path)[0], rank, world_size)
    csr, shape = read_rows(path, start, stop)
    return csr, start, shape


def fit_distributed(X_shard, n_clusters=3, *, group=None, **params):
    """Fit the deep latent block model on the row shards held by a process group.

    Every process of ``group`` calls it together, each with its own contiguous shard of
    rows, in rank order (process 0 holds the first rows). The result is that of one
    training of :class:`~skcocluster.DeepLatentBlockCoclustering` on the whole matrix: the
    same stages and stopping rules, the same refinement and final choice
    (``block_refinement=True``, the default), with every sum over rows summed over the
    shards (user guide, "Larger than one machine"). The returned labels are those of the
    kept partition (``refined_from``).

    Parameters
    ----------
    X_shard : {array-like, sparse matrix} of shape (n_local_rows, n_columns)
        This process's rows; non-negative. Every shard needs at least one row.
    n_clusters : int or tuple of (int, int), default=3
        As for :class:`~skcocluster.DeepLatentBlockCoclustering`.
    group : ProcessGroup, optional
        The processes that share the matrix; the default group when None.
    **params
        Other parameters of :class:`~skcocluster.DeepLatentBlockCoclustering` (their
        defaults are its defaults). ``device='cuda'`` trains on the current CUDA device
        (set it per process with ``torch.cuda.set_device``) and needs the ``nccl``
        backend, ``device='cpu'`` the ``gloo`` backend (``'auto'`` takes the device of the
        group's backend); ``random_state=None`` draws the seeds on process 0. Not supported:
        ``clustering='module'``, ``graph_weight > 0``, ``n_facets > 1``,
        ``likelihood='gaussian'``.

    Returns
    -------
    fit : DistributedFit

    Raises
    ------
    ValueError
        For an unsupported option, an empty shard, values that do not suit the
        likelihood, or a device that does not suit the group's backend.
    """
    estimator = _checked_estimator(n_clusters, params)
    reducer = ProcessGroupReducer(group)
    csr = as_csr(X_shard)
    del X_shard  # the validated copy is what the fit holds (a caller may let go of its own)
    n_local = reducer.all_counts(csr.shape[0])
    if min(n_local) == 0:
        raise ValueError(f"every process needs at least one row; the shards have {n_local} "
                         "rows.")
    estimator.likelihood_ = _agreed_likelihood(csr, estimator.likelihood, reducer)
    check_values_for_likelihood(csr, estimator.likelihood_, estimator_name="fit_distributed")
    device = _process_device(estimator.device, dist.get_backend(group))
    threads, previous = n_threads(estimator.n_jobs), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            fit = _fit(estimator, csr, reducer, n_local, device)
    finally:
        torch.set_num_threads(previous)
    if not fit.converged:
        warnings.warn(f"The best of {estimator.n_init} restart(s) did not converge in "
                      f"max_iter={estimator.max_iter} epochs; increase max_iter or tol.",
                      ConvergenceWarning, stacklevel=2)
    return fit


def _checked_estimator(n_clusters, params):
    """The estimator whose validated parameters the sharded fit takes."""
    for name, required in UNSUPPORTED.items():
        if name in params and params[name] != required:
            raise ValueError(f"fit_distributed does not support {name}={params[name]!r}; "
                             f"it needs {name}={required!r}.")
    estimator = DeepLatentBlockCoclustering(n_clusters, **params)
    estimator._validate_params()
    estimator._check_parameters()
    estimator._check_n_clusters()
    if estimator._facet_counts is None:  # n_clusters='auto' searches the whole matrix
        raise ValueError("n_clusters='auto' is not available in a distributed fit: choose the "
                         "numbers of clusters on a sample of the rows in one process "
                         "(DeepLatentBlockCoclustering(n_clusters='auto')), then pass them.")
    return estimator


def _agreed_likelihood(csr, likelihood, reducer):
    """The likelihood every shard agrees on ('auto': the most general any shard needs)."""
    local = resolve_likelihood(csr, likelihood)
    if local not in SHARDED_LIKELIHOODS:
        raise ValueError(f"fit_distributed supports likelihood in {SHARDED_LIKELIHOODS} "
                         f"(non-negative values); this shard needs {local!r}.")
    needs = reducer.sum_array([SHARDED_LIKELIHOODS.index(local)])
    return SHARDED_LIKELIHOODS[int(needs[0] > 0)]


def _process_device(device, backend):
    """This process's training device: the current CUDA device for 'cuda'.

    The collectives run where the data are: nccl needs a CUDA device, gloo the CPU; so
    'auto' means the device of the group's backend (not whether this machine has a GPU).
    """
    if isinstance(device, str) and device == "auto":
        device = "cuda" if backend == "nccl" else "cpu"
    device = resolve_device(device)
    if (device.type == "cuda") != (backend == "nccl"):
        raise ValueError(f"device={str(device)!r} does not suit the {backend!r} backend of "
                         "the process group: train on 'cuda' with 'nccl', on 'cpu' with "
                         "'gloo'.")
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _fit(estimator, csr, reducer, n_local, device):
    """Prepare the shard and run the restarts; keep the best by the whole matrix's bound."""
    start = time.perf_counter()
    n_row_clusters, n_column_clusters = estimator._facet_counts[0]
    seeds = reducer.broadcast(estimator._seeds(estimator.n_init + 1).astype(np.int64))
    auxiliary_seed, restart_seeds = estimator._split_seeds(seeds)
    data = prepare_shard(csr, reducer, estimator.hidden_dim, device, auxiliary_seed)
    whole = SimpleNamespace(shape=(sum(n_local), csr.shape[1]),
                            nnz=int(reducer.sum_array([csr.nnz])[0]))
    config = estimator._training_config(whole, n_row_clusters, n_column_clusters)
    if config.n_sampled_cells is not None:
        # each shard draws its part of the cells, in proportion to its rows
        config.n_sampled_cells = max(1, round(config.n_sampled_cells * csr.shape[0]
                                              / whole.shape[0]))
    progress = Progress(estimator.verbose if reducer.rank == 0 else 0, estimator.n_init,
                        phase_totals=estimator._progress_phases())
    best = None
    for restart, (seed, init) in enumerate(zip(restart_seeds, estimator._restart_inits())):
        progress.start_restart(restart, init)
        fit = fit_shard_once(data, config, init, int(seed), device, progress)
        progress.end_restart(fit)
        if best is None or fit.lower_bound > best.lower_bound:
            best = fit
    partition = _reported_partition(estimator, csr, best, reducer)
    return DistributedFit(
        row_labels=partition.row_resp.argmax(1), column_labels=partition.column_resp.argmax(1),
        row_start=int(sum(n_local[:reducer.rank])), shape=whole.shape,
        lower_bound=best.lower_bound, n_iter=best.n_iter, converged=best.converged,
        seconds=time.perf_counter() - start, history=best.history,
        refined_from=partition.refined_from)


def _reported_partition(estimator, csr, fit, reducer):
    """The deep model's partition, or the refinement stage's choice (``block_refinement``),
    its sums over rows all-reduced: the estimator's stage on this process's rows."""
    own = (fit.row_resp.cpu().double().numpy(), fit.column_resp.cpu().double().numpy())
    if not estimator.block_refinement:
        return FittedPartition(*own)
    return estimator._refinement_stage.fit(csr, own, estimator._start_memberships(fit),
                                           estimator.likelihood_, Sharding.of_rows(reducer))


def gather_row_labels(fit, group=None):
    """Every row's label, collected from the processes' shards (a collective).

    Parameters
    ----------
    fit : DistributedFit
        This process's result.
    group : ProcessGroup, optional

    Returns
    -------
    row_labels : ndarray of shape (n_rows,)
        On every process.
    """
    labels = torch.as_tensor(fit.row_labels, dtype=torch.int64, device=_label_device(group))
    return ProcessGroupReducer(group).gather(labels).cpu().numpy()


def _peak_rss_mb():
    """This process's peak resident memory, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    """The command line run by ``torchrun -m skcocluster.distributed``: load, fit, write labels.

    Parameters
    ----------
    argv : list of str, optional
    """
    parser = argparse.ArgumentParser(
        prog="python -m skcocluster.distributed",
        description="Fit DeepLatentBlockCoclustering on row shards; launch with torchrun.")
    parser.add_argument("matrix", help=".npz (scipy.sparse.save_npz, CSR) or .mtx file")
    parser.add_argument("--n-clusters", type=int, nargs="+", default=[3],
                        help="clusters (one number, or rows then columns)")
    parser.add_argument("--output", required=True, help=".npz file of the labels (rank 0)")
    parser.add_argument("--device", default="cpu", help="'cpu' (gloo) or 'cuda' (nccl)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--stats", default=None,
                        help="JSON file of every process's peak memory and seconds (rank 0)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="another estimator parameter, e.g. --param max_iter=100")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        _run(args)
    finally:
        dist.destroy_process_group()


def _run(args):
    """The command line's work inside an initialised process group."""
    started = time.perf_counter()
    n_clusters = args.n_clusters[0] if len(args.n_clusters) == 1 else tuple(args.n_clusters)
    params = {name: _literal(value) for name, value in
              (item.split("=", 1) for item in args.param)}
    # the shard is not kept here: the fit's validated copy is the only one during the fit
    fit = fit_distributed(load_row_shard(args.matrix)[0], n_clusters, device=args.device,
                          random_state=args.random_state, **params)
    row_labels = gather_row_labels(fit)
    peak_gpu_mb = (torch.cuda.max_memory_allocated() / 2 ** 20
                   if torch.cuda.is_available() and args.device.startswith("cuda") else 0.0)
    record = [time.perf_counter() - started, fit.seconds, _peak_rss_mb(), peak_gpu_mb,
              len(fit.row_labels)]
    records = ProcessGroupReducer().gather(
        torch.tensor([record], dtype=torch.float64, device=_label_device()))
    if dist.get_rank() == 0:
        np.savez(args.output, row_labels=row_labels, column_labels=fit.column_labels,
                 lower_bound=fit.lower_bound, n_iter=fit.n_iter, converged=fit.converged,
                 refined_from=str(fit.refined_from))
        if args.stats:
            names = ("seconds", "fit_seconds", "peak_rss_mb", "peak_gpu_mb", "rows")
            with open(args.stats, "w") as handle:
                json.dump([dict(zip(names, row)) for row in records.cpu().tolist()], handle)


def _label_device(group=None):
    """The device of the collectives of a process group."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _literal(text):
    """A command-line value as a Python value: a number, a bool, None, or the string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


if __name__ == "__main__":
    main()
