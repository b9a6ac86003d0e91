"""Save the fitted partitions of fixed cases, or compare two saved sets.

A refactoring that must not change results is checked by saving the partitions before it,
saving them again after, and comparing: every case lists whether its row and column labels
are identical (up to a renaming of the clusters) and, where they differ, the co-clustering
ARI between the two and the quality of each against the truth.

The cases are the planted matrices of ``planted_cases.py`` at seed 0 and, when
``--data-dir`` holds them, the four corpora on ``X > 0`` and on their raw counts, each fitted
with the defaults of both estimators (``random_state=0``, one torch thread per process so
that a partition does not depend on the machine's core count)::

    python benchmarks/partitions.py save --data-dir ../shared/data --out before.npz --jobs 2
    python benchmarks/partitions.py save --data-dir ../shared/data --out after.npz --jobs 2
    python benchmarks/partitions.py compare before.npz after.npz
"""

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from planted_cases import cases as planted_cases  # noqa: E402
from run_benchmarks import CORPORA, prepare_input  # noqa: E402

ESTIMATORS = ("DeepLatentBlockCoclustering", "VariationalCoclustering")
INPUTS = ("binary", "raw")


def jobs(data_dir, rows, cols, only=None):
    """Every (key, estimator, case description) to fit."""
    out = []
    for name, _, _ in planted_cases(rows, cols):
        for estimator in ESTIMATORS:
            out.append((f"planted/{name}/{estimator}", estimator, ("planted", name)))
    if data_dir:
        for corpus, entry in CORPORA.items():
            if not os.path.exists(os.path.join(data_dir, entry["file"])):
                continue
            for kind in INPUTS:
                for estimator in ESTIMATORS:
                    out.append((f"{corpus}/{kind}/{estimator}", estimator,
                                ("corpus", corpus, kind, data_dir)))
    if only:
        out = [job for job in out if only in job[0]]
    return out


def load(case, rows, cols):
    """``(X, n_clusters, row_truth, column_truth or None)`` of a case."""
    if case[0] == "planted":
        for name, k, generate in planted_cases(rows, cols):
            if name == case[1]:
                X, row_truth, column_truth = generate(0)
                return X, k, row_truth, column_truth
        raise KeyError(case[1])
    from skcocluster.datasets import load_matlab
    _, corpus, kind, data_dir = case
    entry = CORPORA[corpus]
    bunch = load_matlab(os.path.join(data_dir, entry["file"]),
                        matrix_key=entry["matrix_key"], row_labels_key=entry["labels_key"])
    return prepare_input(bunch.data, kind), entry["n_classes"], bunch.row_labels, None


def fit_one(job, rows, cols):
    """Fit one job in this process; returns its key, labels and seconds."""
    import torch

    import skcocluster
    torch.set_num_threads(1)
    key, estimator, case = job
    X, k, row_truth, column_truth = load(case, rows, cols)
    start = time.perf_counter()
    model = getattr(skcocluster, estimator)(k, random_state=0).fit(X)
    seconds = time.perf_counter() - start
    return dict(key=key, rows=np.asarray(model.row_labels_),
                columns=np.asarray(model.column_labels_), seconds=seconds,
                row_truth=np.asarray(row_truth),
                column_truth=None if column_truth is None else np.asarray(column_truth))


def save(args):
    todo = jobs(args.data_dir, args.rows, args.cols, args.only)
    arrays = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = [pool.submit(fit_one, job, args.rows, args.cols) for job in todo]
        for future in futures:
            result = future.result()
            key = result["key"]
            arrays[f"{key}|rows"] = result["rows"]
            arrays[f"{key}|columns"] = result["columns"]
            arrays[f"{key}|seconds"] = np.array(result["seconds"])
            arrays[f"{key}|row_truth"] = result["row_truth"]
            if result["column_truth"] is not None:
                arrays[f"{key}|column_truth"] = result["column_truth"]
            quality = normalized_mutual_info_score(result["row_truth"], result["rows"])
            print(f"{key:60s} row NMI {quality:.3f} {result['seconds']:7.1f} s", flush=True)
    np.savez_compressed(args.out, **arrays)


def _same_partition(a, b):
    return a.shape == b.shape and adjusted_rand_score(a, b) == 1.0


def compare(args):
    before, after = np.load(args.before), np.load(args.after)
    keys = sorted({name.split("|")[0] for name in before.files})
    n_same = 0
    for key in keys:
        if f"{key}|rows" not in after.files:
            print(f"{key:60s} missing after")
            continue
        truth = before[f"{key}|row_truth"]
        same = [_same_partition(before[f"{key}|{side}"], after[f"{key}|{side}"])
                for side in ("rows", "columns")]
        if all(same):
            n_same += 1
            print(f"{key:60s} identical")
            continue
        quality = [normalized_mutual_info_score(truth, run[f"{key}|rows"])
                   for run in (before, after)]
        agreement = [adjusted_rand_score(before[f"{key}|{side}"], after[f"{key}|{side}"])
                     for side in ("rows", "columns")]
        print(f"{key:60s} DIFFERENT: ARI(before, after) rows {agreement[0]:.3f} columns "
              f"{agreement[1]:.3f}; row NMI to truth {quality[0]:.3f} -> {quality[1]:.3f}")
    print(f"{n_same} of {len(keys)} cases identical")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    saving = sub.add_parser("save", help="fit every case and save its partitions")
    saving.add_argument("--data-dir", default=None, help="folder of the corpora (.mat)")
    saving.add_argument("--out", required=True, help="the .npz file to write")
    saving.add_argument("--rows", type=int, default=1500)
    saving.add_argument("--cols", type=int, default=1000)
    saving.add_argument("--jobs", type=int, default=1, help="fits side by side")
    saving.add_argument("--only", default=None, help="keep only cases whose key has this")
    comparing = sub.add_parser("compare", help="compare two saved sets")
    comparing.add_argument("before")
    comparing.add_argument("after")
    args = parser.parse_args()
    (save if args.command == "save" else compare)(args)


if __name__ == "__main__":
    main()
