"""Benchmark DeepLatentBlockCoclustering against its peers on real corpora and planted data.

One command runs everything and writes ``results.json`` (every fit), ``results.md`` (tables of
mean ± std over the seeds) and, when matplotlib is importable, two plots::

    python benchmarks/run_benchmarks.py --data-dir ../shared/data --out benchmarks/results

Two parts (``--part real|simulated|all``):

* real: the document x word corpora of ``--data-dir`` (table ``CORPORA``), documents scored
  against their classes (NMI, ARI, Hungarian-matched accuracy); a corpus not found there (all
  of them without ``--data-dir``) is taken from ``skcocluster.datasets.fetch_corpus``, which
  downloads it once into the scikit-learn data home;
* simulated: matrices drawn from ``skcocluster.datasets.make_lbm``: difficulty sweeps (diagonal
  blocks with a shrinking lift, growing degree heterogeneity), a 5 x 3 checkerboard, imbalanced
  proportions, a size sweep from 1k to 20k rows (sparse matrices for the large ones), and the
  headline cases of the user guide (``planted_cases.py``, 1500 x 1000, with the block model's
  ceiling: its EM started at the true partition), scored on the rows and with the
  co-clustering ARI (CARI).

Every fit runs in a child process ('spawn' context) that builds its own data and times
``fit`` alone with ``time.perf_counter``. Each of the ``--jobs`` fits at a time has one
such child, kept for the next fit: starting a process, importing torch and warming each
method up once cost a few seconds, more than most peers' fits. Its peak memory is the
resident high-water mark over the fit alone: the child restarts the kernel's mark before
the fit (Linux ``/proc/self/clear_refs``) and reads ``VmHWM`` after it. Python-level
tracers such as tracemalloc do not see the memory torch, BLAS or scipy allocate in C, so
the process's own high-water mark is the honest figure. ``--fresh-process`` starts a new
child for every fit instead (the mark of a process that did nothing but this one fit,
``ru_maxrss``; also where the mark cannot be restarted). A fit that raises, or whose
child dies, is recorded as failed with its message; the run goes on.

See benchmarks/README.md for the meaning of every column.
"""

import argparse
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import resource
import shlex
import sys
import threading
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans, SpectralBiclustering, SpectralCoclustering
from sklearn.feature_extraction.text import TfidfTransformer

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._refine.block_em import refine_block_model
from skcocluster.datasets import fetch_corpus, load_matlab, make_lbm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import planted_cases  # noqa: E402  (the headline cases, beside this script)
from skcocluster.metrics import clustering_scores, coclustering_scores

# --------------------------------------------------------------------------------------------
# What is benchmarked
# --------------------------------------------------------------------------------------------

# Real corpora: file in --data-dir, the keys of its matrix and labels, and its number of
# classes (the number of clusters every method is asked for). See shared/data/README.md. A
# file not in --data-dir is fetched by name: skcocluster.datasets.fetch_corpus(name).
CORPORA = {
    "cstr": dict(file="cstr.mat", matrix_key="fea", labels_key="gnd", n_classes=4),
    "classic3": dict(file="classic3.mat", matrix_key="A", labels_key="labels", n_classes=3),
    "WebACE": dict(file="WebACE.mat", matrix_key="fea", labels_key="gnd", n_classes=20),
    "reviews": dict(file="reviews.mat", matrix_key="dtm", labels_key="classid", n_classes=5),
}

# Method key -> (column title, input the method is fitted on). Inputs are built from the
# matrix as stored by ``prepare_input``. The DLBM's default input on the corpora is the
# matrix as stored ("raw"), what a user passes: the estimator's likelihood='auto' then picks
# Poisson for counts; "binary" is X > 0 (a Bernoulli model); "scaled" keeps the weights
# within [0, 1]. The ceiling is the block model's EM started at the true partition.
METHODS = {
    "dlbm": ("DLBM", "binary"),
    "dlbm-scaled": ("DLBM (scaled)", "scaled"),
    "dlbm-raw": ("DLBM (raw)", "raw"),
    "sc": ("SpectralCoclustering", "raw"),
    "sc-tfidf": ("SpectralCoclustering (tf-idf)", "tfidf"),
    "sb": ("SpectralBiclustering", "raw"),
    "kmeans-tfidf": ("KMeans (tf-idf)", "tfidf"),
    "sparsebm": ("sparsebm LBM", "binary"),
    "ceiling": ("block-model EM from the truth (ceiling)", "raw"),
}
PEER_KEYS = ["sc", "sc-tfidf", "sb", "kmeans-tfidf", "sparsebm"]
# Methods that need the true partition of both sides: planted data only.
TRUTH_KEYS = ("ceiling",)
DLBM_KEYS = ("dlbm", "dlbm-scaled", "dlbm-raw")
DLBM_KEY_OF_INPUT = {"binary": "dlbm", "scaled": "dlbm-scaled", "raw": "dlbm-raw"}

# Planted data. Difficulty cases share one shape; the size sweep keeps the mean degree fixed
# (block probabilities ~ 1 / n_cols) so that only the size changes, not the difficulty.
DIAGONAL_BACKGROUND = 0.1
DIAGONAL_LIFTS = (0.2, 0.1, 0.07, 0.05, 0.04, 0.03)
DEGREE_SPREADS = (0.0, 0.5, 1.0, 1.5)
DEGREE_LIFT = 0.08
# Off-diagonal and diagonal block probabilities times the number of columns: a row expects
# 0.75 * 10 + 0.25 * 50 = 20 ones at every size.
SIZE_SWEEP_DEGREES = (10.0, 50.0)
SPARSE_ABOVE_CELLS = 10 ** 7  # above this many cells, make_lbm builds a CSR matrix directly

DEFAULT_SHAPE = (2000, 1000)
DEFAULT_SIZES = ((1000, 500), (2000, 1000), (5000, 2500), (10000, 5000), (20000, 10000))
QUICK_SHAPE = (600, 400)
QUICK_SIZES = ((500, 250), (1000, 500))

PLOT_METRICS = (("nmi", "row NMI"), ("cari", "CARI"))
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def log(message):
    """Print a progress line at once (the run is long; output is often piped to a file)."""
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Dataset specifications: plain dicts, so that they pickle to the child and dump to JSON
# --------------------------------------------------------------------------------------------

def corpus_path(name, data_dir, fetch):
    """Path of a corpus' ``.mat`` file, or None (reported) when it cannot be had.

    The file of ``data_dir`` when it is there; otherwise, if ``fetch``, the copy cached by
    ``skcocluster.datasets.fetch_corpus`` (downloaded once into the scikit-learn data home,
    here in the parent so that the fits do not race to download it).
    """
    path = None if data_dir is None else os.path.join(data_dir, CORPORA[name]["file"])
    if path is not None and os.path.exists(path):
        return path
    if not fetch:
        log(f"skip {name}: {path} not found" if path else f"skip {name}: no data_dir")
        return None
    try:
        fetched = fetch_corpus(name).filename
    except OSError as error:
        log(f"skip {name}: not in --data-dir and not fetched ({error})")
        return None
    log(f"{name}: {fetched} (from fetch_corpus)")
    return fetched


def real_datasets(data_dir, names=None, fetch=False):
    """Specs of the corpora of ``CORPORA`` found in ``data_dir`` (missing ones are reported).

    Parameters
    ----------
    data_dir : str or None
        Folder holding the ``.mat`` files; None: no folder (every corpus is fetched).
    names : list of str or None
        Corpora to keep (case-insensitive); None keeps all of ``CORPORA``.
    fetch : bool
        Whether a corpus missing from ``data_dir`` is taken from
        ``skcocluster.datasets.fetch_corpus`` (downloaded if not cached) instead of skipped.

    Returns
    -------
    specs : list of dict
    """
    wanted = None if names is None else {name.lower() for name in names}
    for name in sorted((wanted or set()) - {known.lower() for known in CORPORA}):
        log(f"skip {name}: not a corpus of the table ({', '.join(CORPORA)})")
    specs = []
    for name, entry in CORPORA.items():
        if wanted is not None and name.lower() not in wanted:
            continue
        path = corpus_path(name, data_dir, fetch)
        if path is None:
            continue
        specs.append(dict(part="real", name=name, kind="matlab", path=path,
                          matrix_key=entry["matrix_key"], labels_key=entry["labels_key"],
                          n_clusters=entry["n_classes"], sweep=None, x=None))
    return specs


def _diagonal(k, background, lift):
    """k x k block probabilities: ``background``, plus ``lift`` on the diagonal."""
    return (np.full((k, k), background) + lift * np.eye(k)).tolist()


def _lbm_spec(name, shape, n_clusters, sweep=None, x=None, **lbm):
    """Spec of a make_lbm matrix; ``lbm`` holds make_lbm's keyword arguments."""
    n_rows, n_cols = shape
    lbm.setdefault("sparse", n_rows * n_cols > SPARSE_ABOVE_CELLS)
    return dict(part="simulated", name=name, kind="lbm", n_rows=n_rows, n_cols=n_cols,
                n_clusters=n_clusters, sweep=sweep, x=x, lbm=lbm)


def simulated_datasets(shape=DEFAULT_SHAPE, sizes=DEFAULT_SIZES):
    """Specs of every planted case.

    Parameters
    ----------
    shape : (int, int)
        Rows and columns of the difficulty, checkerboard and imbalanced cases.
    sizes : sequence of (int, int)
        Shapes of the size sweep.

    Returns
    -------
    specs : list of dict
        Cases of a sweep carry ``sweep`` (its name) and ``x`` (the swept value, the x-axis
        of its plot).
    """
    rows, cols = shape
    tag = f"{rows}x{cols}"
    specs = [_lbm_spec(f"diagonal 4x4 +{lift:g} ({tag})", shape, 4, sweep="diagonal lift",
                       x=lift, block_params=_diagonal(4, DIAGONAL_BACKGROUND, lift))
             for lift in DIAGONAL_LIFTS]
    specs += [_lbm_spec(f"degree spread {spread:g} ({tag})", shape, 4, sweep="degree spread",
                        x=spread, block_params=_diagonal(4, DIAGONAL_BACKGROUND, DEGREE_LIFT),
                        row_degree_spread=spread, column_degree_spread=spread)
              for spread in DEGREE_SPREADS]
    # A fixed, well-separated 5 x 3 table; L != Q is what SpectralCoclustering cannot express.
    checker = np.random.default_rng(12).uniform(0.05, 0.35, size=(5, 3)).round(3).tolist()
    specs.append(_lbm_spec(f"checkerboard 5x3 ({tag})", shape, [5, 3], block_params=checker))
    specs.append(_lbm_spec(
        f"imbalanced 4x4 +0.1 ({tag})", shape, 4,
        block_params=_diagonal(4, DIAGONAL_BACKGROUND, 0.1),
        row_proportions=[0.5, 0.25, 0.15, 0.1], column_proportions=[0.4, 0.3, 0.2, 0.1]))
    headline_rows, headline_cols = planted_cases.HEADLINE_SHAPE if tuple(shape) == (
        DEFAULT_SHAPE) else shape
    for name, (n_clusters, _, _) in planted_cases.CASES.items():
        specs.append(dict(part="simulated", name=f"headline {name}", kind="headline",
                          case=name, n_rows=headline_rows, n_cols=headline_cols,
                          n_clusters=n_clusters, sweep=None, x=None))
    outside, inside = SIZE_SWEEP_DEGREES
    for n_rows, n_cols in sizes:
        blocks = _diagonal(4, outside / n_cols, (inside - outside) / n_cols)
        specs.append(_lbm_spec(f"size {n_rows}x{n_cols}", (n_rows, n_cols), 4, sweep="size",
                               x=n_rows, block_params=blocks))
    return specs


def load_dataset(spec, seed):
    """Matrix and labels of a spec: ``(X, row_labels, column_labels or None)``.

    The seed draws the planted matrices (one matrix per seed); real corpora ignore it.
    """
    if spec["kind"] == "matlab":
        bunch = load_matlab(spec["path"], matrix_key=spec["matrix_key"],
                            row_labels_key=spec["labels_key"])
        return bunch.data, bunch.row_labels, None
    if spec["kind"] == "headline":
        return planted_cases.generate(spec["case"], spec["n_rows"], spec["n_cols"], seed)
    n_clusters = spec["n_clusters"]
    n_clusters = n_clusters if np.isscalar(n_clusters) else tuple(n_clusters)
    return make_lbm(spec["n_rows"], spec["n_cols"], n_clusters, random_state=seed,
                    **spec["lbm"])


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------

def prepare_input(X, kind):
    """The matrix a method is fitted on.

    ``raw``: as stored (counts, or tf-idf weights for cstr); ``binary``: ``X > 0``; ``scaled``:
    ``X / X.max()``, so values lie in [0, 1] (the Bernoulli DLBM's support); ``tfidf``:
    scikit-learn's TfidfTransformer (l2-normalised rows).
    """
    if kind == "raw":
        return X
    if kind == "binary":
        return (X > 0).astype(np.float64)
    if kind == "scaled":
        top = X.max()
        return X / top if top > 0 else X
    if kind == "tfidf":
        return TfidfTransformer().fit_transform(X)
    raise ValueError(f"unknown input {kind!r}")


def cluster_pair(n_clusters):
    """``(L, Q)``: numbers of row and column clusters from an int or a pair."""
    if np.isscalar(n_clusters):
        return int(n_clusters), int(n_clusters)
    return int(n_clusters[0]), int(n_clusters[1])


def sparsebm_available():
    """Whether the optional ``sparsebm`` package can be imported."""
    return importlib.util.find_spec("sparsebm") is not None


# sparsebm's restarts and iterations, reduced from its defaults (n_init=100,
# n_init_total_run=10, max_iter=10000) so that the real part runs in under 30 minutes on
# two cores: with its defaults one WebACE fit ran over 11 minutes (stopped), with
# n_init_total_run=2 and max_iter=1000 it took 541 s (benchmarks/README.md).
SPARSEBM_BUDGET = dict(n_init=10, n_init_total_run=1, max_iter=300)


def _sparsebm_lbm(n_rows, n_cols, seed):
    """sparsebm's Bernoulli LBM with a reduced budget (``SPARSEBM_BUDGET``), on the CPU,
    silent.

    sparsebm draws its initialisations from numpy's global generator, hence the seeding.
    """
    from sparsebm import LBM

    np.random.seed(seed)
    return LBM(n_row_clusters=n_rows, n_column_clusters=n_cols, verbosity=0, use_gpu=False,
               **SPARSEBM_BUDGET)


class BlockModelCeiling:
    """The block model's own EM (Bernoulli LBM) started at the true partition: what the
    block model reaches when started right, the ceiling of the planted tables."""

    def __init__(self, n_clusters, row_true, column_true):
        self.n_clusters = n_clusters
        self.row_true, self.column_true = row_true, column_true

    def fit(self, X):
        n_rows, n_cols = cluster_pair(self.n_clusters)
        rows, columns, _ = refine_block_model(
            sp.csr_matrix(X), np.eye(n_rows)[self.row_true],
            np.eye(n_cols)[self.column_true])
        self.row_labels_, self.column_labels_ = rows.argmax(1), columns.argmax(1)
        return self


def make_estimator(method, n_clusters, seed, dlbm_params):
    """A fresh estimator of ``method`` (a key of METHODS) for the given numbers of clusters.

    Every peer is asked for the number of row clusters L (rows are what is scored); the
    checkerboard methods (DLBM, SpectralBiclustering, sparsebm) get ``(L, Q)``.
    """
    n_rows, n_cols = cluster_pair(n_clusters)
    if method in DLBM_KEYS:
        k = n_rows if n_rows == n_cols else (n_rows, n_cols)
        return DeepLatentBlockCoclustering(n_clusters=k, random_state=seed, **dlbm_params)
    if method in ("sc", "sc-tfidf"):
        return SpectralCoclustering(n_clusters=n_rows, random_state=seed)
    if method == "sb":
        return SpectralBiclustering(n_clusters=(n_rows, n_cols), random_state=seed)
    if method == "kmeans-tfidf":
        return KMeans(n_clusters=n_rows, n_init=10, random_state=seed)
    if method == "sparsebm":
        return _sparsebm_lbm(n_rows, n_cols, seed)
    raise ValueError(f"unknown method {method!r}")


def fitted_labels(model):
    """``(row_labels, column_labels or None)`` of any fitted method."""
    if hasattr(model, "row_labels_"):  # scikit-learn biclustering and DLBM
        return np.asarray(model.row_labels_), np.asarray(model.column_labels_)
    if hasattr(model, "trained_successfully_"):  # sparsebm
        if not model.trained_successfully_:
            raise RuntimeError("sparsebm: no run converged")
        return np.asarray(model.row_labels), np.asarray(model.column_labels)
    return np.asarray(model.labels_), None  # KMeans clusters the rows only


# --------------------------------------------------------------------------------------------
# One fit, in a child process
# --------------------------------------------------------------------------------------------

def max_rss_mb():
    """High-water resident set size of this process, in MiB (ru_maxrss: KiB on Linux, bytes
    on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10


def restart_rss_peak():
    """Restart this process's resident high-water mark; its resident size in MiB, or None
    where the mark cannot be restarted (not Linux, or /proc not writable)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # "5": reset the peak RSS (Linux 4.0 and later)
        return _proc_status_mb("VmRSS")
    except OSError:
        return None


def rss_peak_since_restart():
    """The resident high-water mark since :func:`restart_rss_peak`, in MiB."""
    return _proc_status_mb("VmHWM")


def _proc_status_mb(field):
    """One memory field of /proc/self/status (kB) in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2 ** 10
    raise OSError(f"/proc/self/status has no {field}")


def _reset_gpu_peak():
    """Restart torch's CUDA peak-memory counter, when CUDA is in use."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


def _gpu_peak_mb():
    """Peak CUDA memory torch allocated in this process, or None when CUDA was not used."""
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return None
    return torch.cuda.max_memory_allocated() / 2 ** 20


SCORE_FIELDS = ("nmi", "ari", "accuracy", "column_nmi", "column_ari", "column_accuracy", "cari")


def _scores(row_true, column_true, row_pred, column_pred):
    """Row NMI/ARI/accuracy, plus column scores and CARI when both sides are known."""
    out = dict.fromkeys(SCORE_FIELDS)
    if column_true is None or column_pred is None:
        out.update(clustering_scores(row_true, row_pred))
        return out
    both = coclustering_scores(row_true, column_true, row_pred, column_pred)
    out.update(nmi=both["row_nmi"], ari=both["row_ari"], accuracy=both["row_accuracy"],
               column_nmi=both["column_nmi"], column_ari=both["column_ari"],
               column_accuracy=both["column_accuracy"], cari=both["cari"])
    return out


def new_record(job):
    """The record of a job, every field present, scores still empty."""
    spec = job["dataset"]
    title, kind = METHODS[job["method"]]
    record = dict(part=spec["part"], dataset=spec["name"], sweep=spec["sweep"], x=spec["x"],
                  method=title, method_key=job["method"], input=kind, seed=job["seed"],
                  n_clusters=spec["n_clusters"], n_rows=None, n_cols=None, nnz=None,
                  status="failed", error=None, warnings=[], seconds=None, peak_rss_mb=None,
                  baseline_rss_mb=None, fit_rss_mb=None, gpu_peak_mb=None,
                  isolated=job.get("isolated", True), pid=os.getpid())
    record.update(dict.fromkeys(SCORE_FIELDS))
    if job["method"].startswith("dlbm"):
        record["dlbm_params"] = job["dlbm_params"]
    return record


# (method, sparse input, DLBM parameters) warmed up in this process
_WARMED = set()


def warm_up(job, sparse):
    """Fit the method once on a tiny planted matrix, untimed, once per process.

    The first fit in a fresh process pays one-off costs (lazy imports, thread pools, torch's
    first kernels: about 1 s for the DLBM, 0.1 s for the spectral methods); the timed fit
    should not. A failure here is ignored: the real fit will report its own.
    """
    key = (job["method"], sparse, json.dumps(job["dlbm_params"], sort_keys=True))
    if key in _WARMED:
        return
    _WARMED.add(key)
    n_rows, n_cols = cluster_pair(job["dataset"]["n_clusters"])
    try:
        X, _, _ = make_lbm(max(60, 5 * n_rows), max(40, 5 * n_cols), (n_rows, n_cols),
                           sparse=sparse, random_state=job["seed"])
        X = prepare_input(X, METHODS[job["method"]][1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_estimator(job["method"], job["dataset"]["n_clusters"], job["seed"],
                           job["dlbm_params"]).fit(X)
    except Exception:  # noqa: BLE001
        pass


def run_job(job):
    """Build the data, fit one method, score it; runs in the child process.

    Never raises: an exception becomes ``status="failed"`` with its message, so that a
    method which refuses a matrix (spectral methods and empty rows) is recorded, not fatal.
    """
    record = new_record(job)
    spec = job["dataset"]
    fresh = job.get("fresh_process", True)
    try:
        X, row_true, column_true = load_dataset(spec, job["seed"])
        record.update(n_rows=X.shape[0], n_cols=X.shape[1],
                      nnz=int(X.nnz if sp.issparse(X) else np.count_nonzero(X)))
        X = prepare_input(X, record["input"])
        if job["method"] in TRUTH_KEYS:
            model = BlockModelCeiling(spec["n_clusters"], row_true, column_true)
        else:
            if job.get("warmup", True):
                warm_up(job, sp.issparse(X))
            model = make_estimator(job["method"], spec["n_clusters"], job["seed"],
                                   job["dlbm_params"])
        # Resident memory with the data built: subtracted from the peak, it approximates
        # what the fit itself added. A fresh process reads its lifetime high-water mark
        # (a lower bound if building the data peaked higher); a kept one restarts the mark.
        fresh = job.get("fresh_process", True)
        record["baseline_rss_mb"] = max_rss_mb() if fresh else restart_rss_peak()
        _reset_gpu_peak()  # the warm-up's allocations are not the fit's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            model.fit(X)
            record["seconds"] = time.perf_counter() - start
        record["warnings"] = sorted({f"{w.category.__name__}: {w.message}"[:200]
                                     for w in caught})
        record.update(_scores(row_true, column_true, *fitted_labels(model)))
        record["status"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure of a method is a result
        record["error"] = f"{type(error).__name__}: {error}"[:500]
        record["traceback"] = traceback.format_exc(limit=-3)
    if record["isolated"] and (fresh or record["baseline_rss_mb"] is not None):
        record["peak_rss_mb"] = max_rss_mb() if fresh else rss_peak_since_restart()
        if record["baseline_rss_mb"] is not None:
            record["fit_rss_mb"] = max(0.0, record["peak_rss_mb"] - record["baseline_rss_mb"])
    try:
        record["gpu_peak_mb"] = _gpu_peak_mb()
    except Exception:  # noqa: BLE001 - reporting GPU memory must not fail a fit
        pass
    return record


class Children:
    """The child processes of a run: one per thread that submits fits, kept from fit to fit.

    A child that dies (out of memory, a signal) is replaced for the next fit. ``fresh``
    starts a new child for every fit instead.
    """

    def __init__(self, fresh=False):
        self.fresh = fresh
        self.local = threading.local()
        self.pools = []
        self.lock = threading.Lock()

    def run(self, job):
        """Run ``run_job(job)`` in this thread's child; a failed record if the child dies."""
        job = dict(job, isolated=True, fresh_process=self.fresh)
        try:
            if self.fresh:
                with self._new_pool() as pool:
                    return pool.submit(run_job, job).result()
            pool = getattr(self.local, "pool", None)
            if pool is None:
                pool = self.local.pool = self._new_pool()
            return pool.submit(run_job, job).result()
        except BrokenProcessPool as error:  # the child was killed: out of memory, signal, ...
            self.local.pool = None
            message = f"child process died (out of memory?): {error}"
        except Exception as error:  # noqa: BLE001 - e.g. the child could not import the runner
            self.local.pool = None
            message = f"child process error: {type(error).__name__}: {error}"
        record = new_record(job)
        record["error"] = message[:500]
        return record

    def _new_pool(self):
        pool = ProcessPoolExecutor(max_workers=1,
                                   mp_context=multiprocessing.get_context("spawn"))
        with self.lock:
            self.pools.append(pool)
        return pool

    def close(self):
        """Stop every child."""
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self.pools = []


def execute(job, isolate=True, children=None):
    """Run one job in a child process when ``isolate`` (peak memory measured; ``children``
    keeps them, a fresh one per fit when None), else in this process (peak memory not
    recorded: it would be this process's)."""
    if not isolate:
        return run_job(dict(job, isolated=False))
    if children is None:
        children = Children(fresh=True)
    return children.run(job)


# --------------------------------------------------------------------------------------------
# Running a part
# --------------------------------------------------------------------------------------------

def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def progress_line(index, total, record):
    """One line per fit: where, what, scores, seconds and peak memory (or the error)."""
    head = f"[{index}/{total}] {record['dataset']} | {record['method']} | seed {record['seed']}"
    if record["status"] != "ok":
        return f"{head} | FAILED {record['error']}"
    cari = "" if record["cari"] is None else f" CARI {_fmt(record['cari'])}"
    peak = "" if record["peak_rss_mb"] is None else f" | peak {record['peak_rss_mb']:.0f} MB"
    return (f"{head} | NMI {_fmt(record['nmi'])} ARI {_fmt(record['ari'])} "
            f"acc {_fmt(record['accuracy'])}{cari} | {record['seconds']:.2f} s{peak}")


def run_jobs(datasets, methods, seeds, dlbm_params=None, isolate=True, on_record=None,
             warmup=True, jobs=1, fresh_process=False):
    """Fit every method on every dataset for every seed; return the list of records.

    Parameters
    ----------
    datasets : list of dict
        Specs from ``real_datasets`` or ``simulated_datasets``.
    methods : list of str
        Keys of METHODS.
    seeds : int
        Seeds 0 .. seeds-1 (a seed draws the planted matrix and seeds the method).
    dlbm_params : dict or None
        Extra keyword arguments of DeepLatentBlockCoclustering.
    isolate : bool
        Fit in a fresh child process (measures peak memory). False is for debugging only.
    on_record : callable or None
        Called with the list of records after each fit (to save partial results).
    warmup : bool
        Fit each method once on a tiny matrix before the timed fit (see ``warm_up``).
    jobs : int
        Fits run at the same time, each in its own child process (needs ``isolate``). With
        ``--threads 1`` and one job per core, each fit has a core to itself, so its seconds
        stay those of a one-thread fit while the wall time of the run is divided.
    fresh_process : bool
        A new child process for every fit, instead of one kept per job.

    Returns
    -------
    records : list of dict
        In the order of the jobs (datasets, then seeds, then methods), whatever order
        they finished in.
    """
    todo = [dict(dataset=spec, method=method, seed=seed, dlbm_params=dict(dlbm_params or {}),
                 warmup=warmup)
            for spec in datasets for seed in range(seeds) for method in methods]
    if jobs > 1 and not isolate:
        raise ValueError("jobs > 1 runs each fit in its own process: it needs isolate=True")
    done = {}

    def finished(index, record):
        done[index] = record
        log(progress_line(len(done), len(todo), record))
        if on_record is not None:
            on_record([done[i] for i in sorted(done)])

    children = Children(fresh=fresh_process)
    try:
        if jobs <= 1:
            for index, job in enumerate(todo):
                finished(index, execute(job, isolate, children))
        else:
            # Threads only wait on the children that do the work (one child per thread).
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(execute, job, isolate, children): index
                           for index, job in enumerate(todo)}
                for future in as_completed(futures):
                    finished(futures[future], future.result())
    finally:
        children.close()
    return [done[index] for index in range(len(todo))]


def resolve_methods(names, inputs=("binary",)):
    """Method keys from command-line names (keys or column titles, any case).

    ``dlbm`` stands for one DLBM per requested input variant; sparsebm is dropped with a note
    when it is not installed.
    """
    by_name = {key: key for key in METHODS}
    by_name.update({title.lower(): key for key, (title, _) in METHODS.items()})
    keys = []
    for name in names:
        key = by_name.get(name.lower())
        if key is None:
            raise SystemExit(f"unknown method {name!r}; choose from {sorted(METHODS)}")
        expanded = [DLBM_KEY_OF_INPUT[kind] for kind in inputs] if key == "dlbm" else [key]
        keys += [k for k in expanded if k not in keys]
    if "sparsebm" in keys and not sparsebm_available():
        log("note: sparsebm is not installed (pip install sparsebm); its column is skipped")
        keys.remove("sparsebm")
    return keys


def run_simulated(sizes=None, shape=None, seeds=1, methods=None, cases=None, dlbm_params=None,
                  isolate=True, on_record=None, warmup=True, jobs=1, fresh_process=False):
    """Run the planted cases; the entry point of the smoke test.

    Parameters
    ----------
    sizes : sequence of (int, int) or None
        Shapes of the size sweep (default ``DEFAULT_SIZES``).
    shape : (int, int) or None
        Shape of the other cases (default: the first of ``sizes`` when given, else
        ``DEFAULT_SHAPE``).
    seeds : int
    methods : list of str or None
        Method names or keys; None runs every method.
    cases : list of str or None
        Keep only the cases whose name contains one of these strings (case-insensitive).
    dlbm_params, isolate, on_record, warmup, jobs, fresh_process
        As in ``run_jobs``.

    Returns
    -------
    records : list of dict
    """
    sizes = DEFAULT_SIZES if sizes is None else [tuple(size) for size in sizes]
    shape = tuple(shape) if shape is not None else (sizes[0] if sizes else DEFAULT_SHAPE)
    specs = filter_cases(simulated_datasets(shape, sizes), cases)
    keys = resolve_methods(methods or ["dlbm"] + PEER_KEYS + list(TRUTH_KEYS))
    if "dlbm" in keys:
        # On 0/1 data every DLBM input is X itself: the other variants would repeat the fit.
        keys = [key for key in keys if key not in DLBM_KEYS[1:]]
    return run_jobs(specs, keys, seeds, dlbm_params, isolate, on_record, warmup, jobs,
                    fresh_process)


def filter_cases(specs, cases):
    """Specs whose name contains one of ``cases`` (all when ``cases`` is empty)."""
    if not cases:
        return specs
    return [spec for spec in specs if any(c.lower() in spec["name"].lower() for c in cases)]


# --------------------------------------------------------------------------------------------
# Summaries, tables and plots
# --------------------------------------------------------------------------------------------

def _mean_std(values):
    """Mean and standard deviation (ddof=1 over seeds; 0 for a single value) of non-None
    values, or (None, None)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


SUMMARY_FIELDS = ("nmi", "ari", "accuracy", "cari", "seconds", "peak_rss_mb", "fit_rss_mb",
                  "gpu_peak_mb")


def summarise(records):
    """One entry per (part, dataset, method), in order of first appearance, with
    ``<field>_mean``/``<field>_std`` over its successful seeds and the failures' messages."""
    groups = {}
    for record in records:
        key = (record["part"], record["dataset"], record["method"])
        groups.setdefault(key, []).append(record)
    summary = []
    for (part, dataset, method), group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        entry = dict(part=part, dataset=dataset, method=method, sweep=group[0]["sweep"],
                     x=group[0]["x"], n_rows=group[0]["n_rows"], runs=len(group),
                     ok=len(ok), errors=sorted({r["error"] for r in group if r["error"]}))
        for field in SUMMARY_FIELDS:
            entry[f"{field}_mean"], entry[f"{field}_std"] = _mean_std([r[field] for r in ok])
        summary.append(entry)
    return summary


def _cell(entry, field, digits=3):
    """``mean ± std`` (with ``k/n`` when some seeds failed), or ``failed``."""
    if entry is None:
        return ""
    mean, std = entry[f"{field}_mean"], entry[f"{field}_std"]
    if entry["ok"] == 0:
        return "failed"
    if mean is None:
        return "-"
    # One seed has no spread: print the value alone rather than a misleading "± 0".
    text = f"{mean:.{digits}f}" if entry["ok"] == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"
    return text if entry["ok"] == entry["runs"] else f"{text} ({entry['ok']}/{entry['runs']})"


def _ordered(values):
    return list(dict.fromkeys(values))


def nmi_table(summary):
    """Markdown table: one row per dataset, one column per method, cells row NMI."""
    datasets = _ordered(e["dataset"] for e in summary)
    methods = _ordered(e["method"] for e in summary)
    index = {(e["dataset"], e["method"]): e for e in summary}
    lines = ["| dataset | " + " | ".join(methods) + " |",
             "|---|" + "---|" * len(methods)]
    for dataset in datasets:
        cells = [_cell(index.get((dataset, method)), "nmi") for method in methods]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detail_table(summary, with_cari):
    """Markdown table: one row per (dataset, method): ARI, accuracy, [CARI,] time, memory."""
    head = ["dataset", "method", "ARI", "accuracy"] + (["CARI"] if with_cari else []) + [
        "seconds", "peak MB", "fit MB", "GPU MB", "runs ok"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in summary:
        cells = [e["dataset"], e["method"], _cell(e, "ari"), _cell(e, "accuracy")]
        cells += [_cell(e, "cari")] if with_cari else []
        cells += [_cell(e, "seconds", 2), _cell(e, "peak_rss_mb", 0), _cell(e, "fit_rss_mb", 0),
                  _cell(e, "gpu_peak_mb", 0), f"{e['ok']}/{e['runs']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failures(summary):
    """Markdown list of the distinct failure messages."""
    lines = [f"- {e['dataset']} / {e['method']}: {message}"
             for e in summary for message in e["errors"]]
    return "\n".join(lines)


def markdown_report(summary, meta):
    """The whole results.md: a header with the settings, then tables per part."""
    out = ["# Benchmark results", "",
           f"Command: `{meta['command']}`  ",
           f"Seeds: {meta['seeds']}; DLBM extra parameters: `{json.dumps(meta['dlbm_params'])}`; "
           f"machine: {meta['machine']}", "",
           "Cells are mean ± std over the seeds (std with ddof=1); `(k/n)`: only k of n seeds "
           "succeeded. NMI, ARI and accuracy score the rows. seconds: `fit` alone; peak MB: peak "
           "RSS of the child process that ran the fit; fit MB: peak minus the RSS high-water "
           "mark before `fit`. See benchmarks/README.md.", ""]
    titles = {"real": "Real corpora (document clusters)",
              "simulated": "Planted latent block models (row clusters; CARI on both sides)"}
    for part in ("real", "simulated"):
        entries = [e for e in summary if e["part"] == part]
        if not entries:
            continue
        out += [f"## {titles[part]}", "", "### Row NMI", "", nmi_table(entries), "",
                "### ARI, accuracy, time and memory", "",
                detail_table(entries, with_cari=part == "simulated"), ""]
    failed = failures(summary)
    if failed:
        out += ["## Failures", "", failed, ""]
    return "\n".join(out)


def make_plots(summary, out_dir):
    """Quality vs difficulty and time/memory vs size, as PNGs; returns the paths written
    (none when matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on benchmark machines
        import matplotlib.pyplot as plt
    except ImportError:
        log("note: matplotlib is not installed; no plots")
        return []
    paths = []
    sweeps = [s for s in _ordered(e["sweep"] for e in summary) if s and s != "size"]
    if sweeps:
        fig, axes = plt.subplots(len(PLOT_METRICS), len(sweeps), squeeze=False,
                                 figsize=(5 * len(sweeps), 3.6 * len(PLOT_METRICS)))
        for column, sweep in enumerate(sweeps):
            for row, (field, label) in enumerate(PLOT_METRICS):
                _plot_sweep(axes[row][column], summary, sweep, field, label)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "quality_vs_difficulty.png"))
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    if any(e["sweep"] == "size" for e in summary):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        _plot_sweep(axes[0], summary, "size", "seconds", "fit seconds", log_scale=True)
        # Linear memory axis: every child starts at the same few hundred MB (torch imported).
        _plot_sweep(axes[1], summary, "size", "peak_rss_mb", "peak RSS (MB)")
        axes[1].set_xscale("log")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "time_vs_size.png"))
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


def _plot_sweep(ax, summary, sweep, field, label, log_scale=False):
    """One line per method: ``field`` (mean ± std) against the swept value."""
    for method in _ordered(e["method"] for e in summary if e["sweep"] == sweep):
        points = sorted((e["x"], e[f"{field}_mean"], e[f"{field}_std"]) for e in summary
                        if e["sweep"] == sweep and e["method"] == method
                        and e[f"{field}_mean"] is not None)
        if points:
            x, mean, std = zip(*points)
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=method)
    ax.set_xlabel("rows" if sweep == "size" else sweep)
    ax.set_ylabel(label)
    ax.set_title(f"{label} vs {sweep}")
    if log_scale:
        ax.set_xscale("log")
        ax.set_yscale("log")
    if sweep == "diagonal lift":
        ax.invert_xaxis()  # harder to the right
    ax.grid(alpha=0.3)


def _json_default(value):
    """JSON encoding of numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_results(records, meta, out_dir, plots=True):
    """Write results.json (meta, summary, every run), results.md and the plots."""
    os.makedirs(out_dir, exist_ok=True)
    summary = summarise(records)
    with open(os.path.join(out_dir, "results.json"), "w") as handle:
        json.dump(dict(meta=meta, summary=summary, runs=records), handle, indent=1,
                  default=_json_default)
    with open(os.path.join(out_dir, "results.md"), "w") as handle:
        handle.write(markdown_report(summary, meta))
    return make_plots(summary, out_dir) if plots else []


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def _shape(text):
    """``"2000x1000"`` -> (2000, 1000)."""
    rows, _, cols = text.lower().partition("x")
    try:
        return int(rows), int(cols)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS, got {text!r}") from None


def _dlbm_params(text):
    params = json.loads(text)
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError("--dlbm-params must be a JSON object")
    return params


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help="folder of the .mat corpora, e.g. ../shared/data; a corpus not "
                             "there (all without it) is fetched into the scikit-learn data "
                             "home (skcocluster.datasets.fetch_corpus, downloaded once)")
    parser.add_argument("--out", default="benchmarks/results", help="output folder")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--part", choices=("real", "simulated", "all"), default="all")
    parser.add_argument("--methods", nargs="+", default=["dlbm"] + PEER_KEYS + list(TRUTH_KEYS),
                        help=f"method keys or titles (default all): {', '.join(METHODS)}; "
                             "'dlbm' means one DLBM per --input")
    parser.add_argument("--corpora", nargs="+", default=None,
                        help=f"real corpora to run (default all): {', '.join(CORPORA)}")
    parser.add_argument("--cases", nargs="+", default=None,
                        help="planted cases whose name contains one of these (e.g. diagonal "
                             "size checkerboard imbalanced degree)")
    parser.add_argument("--input", nargs="+", choices=tuple(DLBM_KEY_OF_INPUT),
                        default=["raw"], help="DLBM input(s) on real data: X > 0, "
                                              "X / X.max(), X as stored (default)")
    parser.add_argument("--dlbm-params", type=_dlbm_params, default={},
                        help="JSON object of extra DeepLatentBlockCoclustering parameters")
    parser.add_argument("--shape", type=_shape, default=None,
                        help=f"shape of the difficulty cases (default "
                             f"{DEFAULT_SHAPE[0]}x{DEFAULT_SHAPE[1]})")
    parser.add_argument("--sizes", type=_shape, nargs="+", default=None,
                        help="shapes of the size sweep (default 1000x500 ... 20000x10000)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 1 seed, difficulty cases {QUICK_SHAPE[0]}x"
                             f"{QUICK_SHAPE[1]}, size sweep up to {QUICK_SIZES[-1][0]} rows")
    parser.add_argument("--no-isolate", action="store_true",
                        help="debug: fit in this process (no per-fit peak memory)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per fit (sets OMP/OpenBLAS/MKL_NUM_THREADS for the "
                             "children; default: the libraries' own choice)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="fits run at the same time, each in its own process (use one per "
                             "core, with --threads 1)")
    parser.add_argument("--fresh-process", action="store_true",
                        help="a new child process for every fit (peak memory of a process "
                             "that did only that fit; slower: a few seconds per fit)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="time the first fit of a fresh process (one-off costs included)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = 1 if args.quick else 5
    if args.shape is None:
        args.shape = QUICK_SHAPE if args.quick else DEFAULT_SHAPE
    if args.sizes is None:
        args.sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    return args


def run_meta(args, argv):
    """Settings and versions stored with the results."""
    import sklearn
    import torch

    return dict(command="python benchmarks/run_benchmarks.py " + shlex.join(argv),
                seeds=args.seeds, dlbm_params=args.dlbm_params, inputs=args.input,
                threads=args.threads, jobs=args.jobs, warmup=not args.no_warmup,
                fresh_process=args.fresh_process,
                machine=f"{platform.machine()}, {os.cpu_count()} CPUs, "
                        f"CUDA {'yes' if torch.cuda.is_available() else 'no'}",
                python=platform.python_version(), numpy=np.__version__,
                sklearn=sklearn.__version__, torch=torch.__version__,
                sparsebm=sparsebm_available(),
                started=time.strftime("%Y-%m-%d %H:%M:%S"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    meta = run_meta(args, argv)
    records = []

    def save(partial):  # after every fit, so an interrupted run keeps what it measured
        write_results(records + partial, meta, args.out, plots=False)

    if args.threads:
        # Read by OpenMP, OpenBLAS, MKL and torch when a spawned child starts.
        for name in THREAD_VARIABLES:
            os.environ[name] = str(args.threads)
    options = dict(dlbm_params=args.dlbm_params, isolate=not args.no_isolate, on_record=save,
                   warmup=not args.no_warmup, jobs=args.jobs,
                   fresh_process=args.fresh_process)
    if args.part in ("real", "all"):
        specs = real_datasets(args.data_dir, args.corpora, fetch=True)
        keys = [key for key in resolve_methods(args.methods, args.input)
                if key not in TRUTH_KEYS]
        log(f"real corpora: {len(specs)} x {len(keys)} methods x {args.seeds} seeds")
        records += run_jobs(specs, keys, args.seeds, **options)
    if args.part in ("simulated", "all"):
        log(f"planted cases: {args.shape[0]}x{args.shape[1]}, size sweep "
            f"{', '.join(f'{r}x{c}' for r, c in args.sizes)}")
        records += run_simulated(args.sizes, args.shape, args.seeds, args.methods, args.cases,
                                 **options)
    plots = write_results(records, meta, args.out, plots=not args.no_plots)
    log(f"wrote {os.path.join(args.out, 'results.json')}, results.md"
        + "".join(f", {os.path.basename(p)}" for p in plots))


if __name__ == "__main__":
    main()
