"""Scale benchmark: DeepLatentBlockCoclustering on large sparse matrices, beside
SpectralCoclustering.

For each size, a sparse Bernoulli matrix with four planted row and column clusters is drawn by
``skcocluster.datasets.make_lbm(sparse=True)`` (never a dense matrix): background probability
``density / 2`` and diagonal blocks five times as dense, so the overall density is
``density``. Each
fit runs in a fresh child process ('spawn'), which reports its wall seconds, its peak resident
set size (``ru_maxrss``: the matrix, the model and everything torch, scipy and BLAS allocated)
and the co-clustering ARI (CARI). For the deep model it also reports the seconds per epoch of
pretraining and of the alternating phase, measured by timing those two phases of the training
loop (``skcocluster._train.dlbm.pretrain`` / ``alternate``) and dividing by their epochs::

    python benchmarks/scale.py --out benchmarks/results/scale
    python benchmarks/scale.py --sizes 100000x20000@0.001 --methods dlbm,sc

It prints a Markdown table, writes ``scale.json`` and ``scale.md``, and, with matplotlib,
``scale.png`` (seconds per epoch against ``nnz + M + P``, with a least-squares line: the cost
of an epoch should grow linearly in it). Nothing here asserts on time.
"""

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

# (n_rows, n_cols, density): from 10k x 5k to 200k x 50k, densities 0.1% to 0.5%.
DEFAULT_SIZES = [(10_000, 5_000, 0.005), (20_000, 10_000, 0.004), (50_000, 10_000, 0.002),
                 (100_000, 20_000, 0.001), (200_000, 50_000, 0.001)]
N_CLUSTERS = 4
# Diagonal blocks are this many times as dense as the background.
BLOCK_CONTRAST = 5.0
METHODS = ("dlbm", "sc")


def planted_matrix(n_rows, n_cols, density, seed):
    """A sparse planted LBM matrix of the given overall density, with its true labels."""
    from skcocluster.datasets import make_lbm

    # Balanced clusters: 1/K of the cells are diagonal, so the mean density is
    # background * (K - 1 + BLOCK_CONTRAST) / K.
    background = N_CLUSTERS * density / (N_CLUSTERS - 1 + BLOCK_CONTRAST)
    block = np.full((N_CLUSTERS, N_CLUSTERS), background)
    block[np.diag_indices(N_CLUSTERS)] = BLOCK_CONTRAST * background
    return make_lbm(n_rows, n_cols, N_CLUSTERS, block_params=block, sparse=True,
                    random_state=seed)


def _timed_phases():
    """Wrap the two training phases so that their wall seconds and epochs are recorded."""
    import skcocluster._train.dlbm as training

    phases = {}

    def wrap(name):
        original = getattr(training, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = original(*args, **kwargs)
            history = out[0] if isinstance(out, tuple) else out
            seconds, epochs = phases.get(name, (0.0, 0))
            phases[name] = (seconds + time.perf_counter() - start, epochs + len(history))
            return out
        setattr(training, name, timed)

    wrap("pretrain")
    wrap("alternate")
    return phases


def run_fit(job):
    """Child process: draw the matrix, fit one method, return a record."""
    import torch
    from sklearn.cluster import SpectralCoclustering
    from sklearn.exceptions import ConvergenceWarning

    from skcocluster import DeepLatentBlockCoclustering
    from skcocluster.metrics import coclustering_adjusted_rand_score

    n_rows, n_cols, density = job["size"]
    X, row_labels, column_labels = planted_matrix(n_rows, n_cols, density, job["seed"])
    record = dict(job, nnz=int(X.nnz), n_rows=n_rows, n_cols=n_cols,
                  torch_threads=torch.get_num_threads())
    phases = _timed_phases()
    if job["method"] == "dlbm":
        model = DeepLatentBlockCoclustering(N_CLUSTERS, random_state=job["seed"],
                                            **job["dlbm_params"])
    else:
        model = SpectralCoclustering(N_CLUSTERS, random_state=job["seed"])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    record["seconds"] = time.perf_counter() - start
    record["cari"] = float(coclustering_adjusted_rand_score(
        row_labels, column_labels, model.row_labels_, model.column_labels_))
    for name, (seconds, epochs) in phases.items():
        record[f"{name}_epochs"] = epochs
        record[f"{name}_seconds_per_epoch"] = seconds / max(epochs, 1)
    if job["method"] == "dlbm":
        record["refined_from"] = model.refined_from_
        record["converged"] = bool(model.converged_)
    record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if job["method"] == "dlbm":
        record["device"] = str(model.device_)
        if model.device_.type == "cuda":
            # host RSS misses what lives on the card: report the card's high-water mark too
            record["peak_gpu_mb"] = torch.cuda.max_memory_allocated(model.device_) / 2**20
    return record


def execute(job):
    """Run one job in a fresh child; a child that dies is recorded as failed."""
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(run_fit, job).result()
    except BrokenProcessPool as error:
        return dict(job, error=f"child died: {error}")
    except Exception as error:  # a failed fit is a result, the run goes on
        return dict(job, error=f"{type(error).__name__}: {error}")


def _fmt(value, digits=3):
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def linear_fit(records):
    """Least-squares line of DLBM seconds per epoch against ``nnz + M + P``.

    Returns
    -------
    fit : dict or None
        Slope (seconds per million units), intercept (seconds) and R^2 for each phase.
    """
    fits = {}
    for phase in ("pretrain", "alternate"):
        points = [(r["nnz"] + r["n_rows"] + r["n_cols"], r[f"{phase}_seconds_per_epoch"])
                  for r in records if r.get("method") == "dlbm" and "error" not in r
                  and f"{phase}_seconds_per_epoch" in r]
        if len(points) < 2:
            continue
        size, seconds = np.asarray(points, dtype=float).T
        slope, intercept = np.polyfit(size, seconds, 1)
        predicted = slope * size + intercept
        total = np.sum((seconds - seconds.mean()) ** 2)
        r2 = 1.0 - np.sum((seconds - predicted) ** 2) / total if total > 0 else 1.0
        fits[phase] = dict(seconds_per_million=slope * 1e6, intercept=intercept, r2=r2)
    return fits


def gpu_memory(record):
    """' (GPU n MB)' after the host RSS when the fit ran on a CUDA device, else ''."""
    if "peak_gpu_mb" not in record:
        return ""
    return f" (GPU {record['peak_gpu_mb']:.0f})"


def markdown(records, fits):
    lines = ["| size | density | nnz | method | fit s | pretrain s/epoch | alternate s/epoch "
             "| epochs | peak RSS MB | CARI | kept |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        n_rows, n_cols, density = r["size"]
        if "error" in r:
            lines.append(f"| {n_rows}x{n_cols} | {density} | - | {r['method']} | failed: "
                         f"{r['error']} | | | | | | |")
            continue
        epochs = "-"
        if "pretrain_epochs" in r:
            epochs = f"{r['pretrain_epochs']}+{r['alternate_epochs']}"
        lines.append(
            f"| {n_rows}x{n_cols} | {density} | {r['nnz']} | {r['method']} | "
            f"{_fmt(r['seconds'], 1)} | {_fmt(r.get('pretrain_seconds_per_epoch'))} | "
            f"{_fmt(r.get('alternate_seconds_per_epoch'))} | {epochs} | "
            f"{_fmt(r['peak_rss_mb'], 0)}{gpu_memory(r)} | {_fmt(r['cari'])} | "
            f"{r.get('refined_from', '-')} |")
    for phase, fit in fits.items():
        lines.append("")
        lines.append(f"{phase}: seconds per epoch = {fit['seconds_per_million']:.3f} x "
                     f"(nnz + M + P) / 1e6 + {fit['intercept']:.3f}  (R^2 = {fit['r2']:.3f})")
    return "\n".join(lines)


def plot(records, fits, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for phase, marker in (("pretrain", "o"), ("alternate", "s")):
        points = [(r["nnz"] + r["n_rows"] + r["n_cols"], r[f"{phase}_seconds_per_epoch"])
                  for r in records if r.get("method") == "dlbm" and "error" not in r]
        if not points:
            continue
        size, seconds = np.asarray(points, dtype=float).T
        ax.plot(size / 1e6, seconds, marker, label=f"{phase}")
        if phase in fits:
            grid = np.linspace(0, size.max(), 50)
            fit = fits[phase]
            ax.plot(grid / 1e6, fit["seconds_per_million"] * grid / 1e6 + fit["intercept"],
                    "--", color=ax.lines[-1].get_color())
    ax.set_xlabel("nnz + M + P (millions)")
    ax.set_ylabel("seconds per epoch")
    ax.set_title("DeepLatentBlockCoclustering, one epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def gpu_name():
    """The CUDA device a default fit would use, or None."""
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def parse_size(text):
    shape, density = text.split("@")
    n_rows, n_cols = (int(part) for part in shape.lower().split("x"))
    return n_rows, n_cols, float(density)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None,
                        help="comma-separated ROWSxCOLS@DENSITY (default: 10k x 5k to 200k x 50k)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of dlbm,sc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dlbm-params", default="{}",
                        help="JSON of DeepLatentBlockCoclustering parameters")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "scale"))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = ([parse_size(s) for s in args.sizes.split(",")] if args.sizes
             else DEFAULT_SIZES)
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    dlbm_params = json.loads(args.dlbm_params)
    records = []
    for size in sizes:
        for method in methods:
            job = dict(size=size, method=method, seed=args.seed, dlbm_params=dlbm_params)
            record = execute(job)
            records.append(record)
            print(f"{size} {method}: " + (record.get("error") or
                  f"{record['seconds']:.1f} s, CARI {record['cari']:.3f}, "
                  f"peak RSS {record['peak_rss_mb']:.0f} MB"), flush=True)
    fits = linear_fit(records)
    table = markdown(records, fits)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    meta = dict(argv=sys.argv, python=platform.python_version(), machine=platform.machine(),
                cpu_count=os.cpu_count(), date=time.strftime("%Y-%m-%d %H:%M"),
                gpu=gpu_name())
    with open(os.path.join(args.out, "scale.json"), "w") as handle:
        json.dump(dict(meta=meta, records=records, fits=fits), handle, indent=1)
    with open(os.path.join(args.out, "scale.md"), "w") as handle:
        handle.write(table + "\n")
    plot(records, fits, os.path.join(args.out, "scale.png"))


if __name__ == "__main__":
    main()
