"""Speed of a default fit, beside SpectralCoclustering and SpectralBiclustering.

Times ``fit`` with the defaults of both estimators (``random_state=0``) on planted binary
block matrices of 300 x 200, 1500 x 1000 and 5000 x 3000 and, when ``--data-dir`` holds
them, on the four document corpora (``X > 0`` and raw counts), with one thread and with
every core, and reports the quality of each fit (co-clustering ARI on planted data,
document NMI on the corpora) and, for the two deep estimators, where the time went (start,
pretraining, alternating phase, refinement and final choice, storing the fitted state for
new rows and columns)::

    python benchmarks/speed.py --data-dir ../shared/data --out benchmarks/results/speed

Every fit runs in a fresh child process ('spawn'), so that one-off costs (imports, the
first use of an optimiser) count as a user meets them; the time is ``fit`` alone, wall and
CPU seconds. Run it on an idle machine: two processes on two cores slow a torch fit
several times. It prints a Markdown table and writes ``speed.json`` and ``speed.md``.
"""

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PLANTED_SHAPES = ((300, 200), (1500, 1000), (5000, 3000))
PLANTED_CLUSTERS = 4
METHODS = ("DLBM", "VC", "SpectralCoclustering", "SpectralBiclustering")
STAGES = ("prepare", "start", "pretrain", "train", "refine", "store")


def planted(n_rows, n_cols):
    """A binary planted matrix with 4 x 4 weakly contrasted diagonal blocks."""
    import numpy as np

    from skcocluster.datasets import make_lbm

    blocks = np.full((PLANTED_CLUSTERS, PLANTED_CLUSTERS), 0.2) + 0.1 * np.eye(PLANTED_CLUSTERS)
    X, rows, cols = make_lbm(n_rows, n_cols, PLANTED_CLUSTERS, block_params=blocks,
                             random_state=0)
    return X, PLANTED_CLUSTERS, rows, cols


def corpus(data_dir, name, kind):
    """A corpus of the benchmark as ``X > 0`` (kind 'binary') or raw counts ('raw')."""
    from run_benchmarks import CORPORA, prepare_input

    from skcocluster.datasets import load_matlab

    entry = CORPORA[name]
    bunch = load_matlab(os.path.join(data_dir, entry["file"]), matrix_key=entry["matrix_key"],
                        row_labels_key=entry["labels_key"])
    return prepare_input(bunch.data, kind), entry["n_classes"], bunch.row_labels, None


def make(method, n_clusters, threads):
    """The estimator of a method with its defaults (the deep ones given ``n_jobs=threads``:
    their default, ``n_jobs=None``, computes with one thread whatever torch's setting)."""
    from sklearn.cluster import SpectralBiclustering, SpectralCoclustering

    from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering

    if method in ("DLBM", "VC"):
        cls = DeepLatentBlockCoclustering if method == "DLBM" else VariationalCoclustering
        if "n_jobs" in cls().get_params():
            return cls(n_clusters, random_state=0, n_jobs=threads)
        return cls(n_clusters, random_state=0)
    return {"SpectralCoclustering": SpectralCoclustering,
            "SpectralBiclustering": SpectralBiclustering}[method](n_clusters, random_state=0)


def quality(model, rows, cols):
    """CARI with column labels, document NMI without."""
    from sklearn.metrics import normalized_mutual_info_score

    from skcocluster.metrics import coclustering_adjusted_rand_score

    if cols is None:
        return "NMI", normalized_mutual_info_score(rows, model.row_labels_)
    return "CARI", coclustering_adjusted_rand_score(rows, cols, model.row_labels_,
                                                    model.column_labels_)


def run_one(job):
    """Fit one (case, method, threads) in this process; returns its record."""
    case, method, threads, data_dir = job
    from threadpoolctl import threadpool_limits
    import torch

    torch.set_num_threads(threads)
    if case[0] == "planted":
        X, k, rows, cols = planted(*case[1])
    else:
        X, k, rows, cols = corpus(data_dir, case[1], case[2])
    model = make(method, k, threads)
    record = dict(case=" ".join(str(part) for part in case), method=method, threads=threads)
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            model.fit(X)
        except ValueError as error:  # the spectral peers refuse empty rows
            record.update(error=str(error).splitlines()[0])
            return record
        record.update(seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu)
    record["metric"], record["quality"] = quality(model, rows, cols)
    record["stages"] = dict(getattr(model, "_stage_seconds", {}) or {})
    return record


def time_check_estimator():
    """Wall and CPU seconds of scikit-learn's ``check_estimator`` on the default estimator.

    ``n_clusters=2``: some checks fit matrices of two columns, where the default of three
    column clusters is refused (too many clusters for the matrix).
    """
    from sklearn.utils.estimator_checks import check_estimator

    from skcocluster import DeepLatentBlockCoclustering
    from skcocluster._base import EXPECTED_FAILED_CHECKS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = time.perf_counter(), time.process_time()
        check_estimator(DeepLatentBlockCoclustering(2),
                        expected_failed_checks=EXPECTED_FAILED_CHECKS)
    return time.perf_counter() - wall, time.process_time() - cpu


def cases(data_dir, only=None):
    """Every case: the planted shapes, then the corpora found in ``data_dir``."""
    out = [("planted", shape) for shape in PLANTED_SHAPES]
    if data_dir:
        from run_benchmarks import CORPORA

        for name, entry in CORPORA.items():
            if os.path.exists(os.path.join(data_dir, entry["file"])):
                out += [("corpus", name, "binary"), ("corpus", name, "raw")]
    return [case for case in out if not only or only in " ".join(map(str, case))]


def markdown(records):
    """One row per (case, method, threads)."""
    lines = ["| case | method | threads | wall s | CPU s | quality | "
             + " | ".join(STAGES) + " |", "|---" * (6 + len(STAGES)) + "|"]
    for record in records:
        if "error" in record:
            lines.append(f"| {record['case']} | {record['method']} | {record['threads']} | "
                         f"failed: {record['error'][:60]} |")
            continue
        stages = record.get("stages", {})
        lines.append(
            f"| {record['case']} | {record['method']} | {record['threads']} | "
            f"{record['seconds']:.2f} | {record['cpu_seconds']:.2f} | "
            f"{record['metric']} {record['quality']:.3f} | "
            + " | ".join(f"{stages[s]:.2f}" if s in stages else "-" for s in STAGES) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder of the corpora (.mat)")
    parser.add_argument("--out", default=None, help="folder for speed.json and speed.md")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}",
                        help="comma-separated thread counts (default: 1 and every core)")
    parser.add_argument("--only", default=None, help="only cases whose name contains this")
    parser.add_argument("--check-estimator", action="store_true",
                        help="time scikit-learn's check_estimator on the default estimator")
    args = parser.parse_args()
    if args.check_estimator:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            wall, cpu = pool.submit(time_check_estimator).result()
        print(f"check_estimator(DeepLatentBlockCoclustering(2)): {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU")
        return
    methods = args.methods.split(",")
    threads = sorted({int(t) for t in args.threads.split(",")})
    context = multiprocessing.get_context("spawn")
    records = []
    for case in cases(args.data_dir, args.only):
        for n_threads in threads:
            for method in methods:
                # One fresh process per fit, one fit at a time.
                with ProcessPoolExecutor(1, mp_context=context) as pool:
                    record = pool.submit(run_one, (case, method, n_threads,
                                                   args.data_dir)).result()
                records.append(record)
                print(markdown([record]).splitlines()[-1], flush=True)
    table = markdown(records)
    print(f"\n{platform.node()}: {os.cpu_count()} cores\n\n{table}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "speed.json"), "w") as handle:
            json.dump(records, handle, indent=1)
        with open(os.path.join(args.out, "speed.md"), "w") as handle:
            handle.write(table + "\n")


if __name__ == "__main__":
    main()
