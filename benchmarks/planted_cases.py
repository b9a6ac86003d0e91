"""Planted Bernoulli block matrices: DeepLatentBlockCoclustering against the spectral peers.

Prints, for each case of a difficulty sweep, the row ARI, column ARI, CARI and seconds of
each method, with the block model's ceiling (variational EM of the Bernoulli LBM started at
the true partition). Writes the table as JSON and Markdown when --out is given.

Usage::

    python benchmarks/planted_sweep.py [--rows 1500] [--cols 1000] [--seeds 1] [--out DIR]
"""

import argparse
import json
import os
import time

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import SpectralBiclustering, SpectralCoclustering
from sklearn.metrics import adjusted_rand_score

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._refine.block_em import refine_block_model
from skcocluster.datasets import make_latent_position_blocks, make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score


def diagonal(k, background, lift):
    return np.full((k, k), background) + lift * np.eye(k)


def cases(n_rows, n_cols):
    """(name, n_clusters, generator) for every case of the sweep."""
    rng = np.random.default_rng(12)
    checker = rng.uniform(0.1, 0.35, size=(5, 3))
    out = []
    for lift in (0.15, 0.08, 0.05, 0.04):
        out.append((f"diagonal 4x4, +{lift}", 4, dict(block_params=diagonal(4, 0.2, lift))))
    out.append(("checkerboard 5x3", (5, 3), dict(block_params=checker)))
    out.append(("imbalanced 4x4, +0.08", 4, dict(
        block_params=diagonal(4, 0.2, 0.08), row_proportions=[0.5, 0.25, 0.15, 0.1],
        column_proportions=[0.4, 0.3, 0.2, 0.1])))
    return [(name, k, lambda seed, kw=kw, k=k: make_lbm(n_rows, n_cols, k, random_state=seed,
                                                         **kw)) for name, k, kw in out] + [
        ("latent positions 3x3", 3, lambda seed: make_latent_position_blocks(
            n_rows, n_cols, 3, random_state=seed))]


def one_hot(labels, k):
    resp = np.zeros((labels.size, k))
    resp[np.arange(labels.size), labels] = 1.0
    return resp


def oracle(X, rows, cols, n_clusters):
    n_row, n_col = (n_clusters, n_clusters) if np.isscalar(n_clusters) else n_clusters
    r, c, _ = refine_block_model(sp.csr_matrix(X), one_hot(rows, n_row), one_hot(cols, n_col))
    return r.argmax(1), c.argmax(1)


def methods(seed):
    return {
        "DLBM": lambda k: DeepLatentBlockCoclustering(k, random_state=seed),
        "DLBM without refinement": lambda k: DeepLatentBlockCoclustering(
            k, block_refinement=False, random_state=seed),
        "SpectralCoclustering": lambda k: SpectralCoclustering(
            k if np.isscalar(k) else max(k), random_state=seed),
        "SpectralBiclustering": lambda k: SpectralBiclustering(
            k if np.isscalar(k) else k, random_state=seed),
    }


def run(n_rows, n_cols, seeds, only=None):
    results = []
    for name, k, generate in cases(n_rows, n_cols):
        if only and only not in name:
            continue
        for seed in range(seeds):
            X, rows, cols = generate(seed)
            row_l, col_l = oracle(X, rows, cols, k)
            results.append(dict(case=name, seed=seed, method="LBM EM from truth (ceiling)",
                                row_ari=adjusted_rand_score(rows, row_l),
                                column_ari=adjusted_rand_score(cols, col_l),
                                cari=coclustering_adjusted_rand_score(rows, cols, row_l, col_l),
                                seconds=float("nan")))
            print(f"{name:28s} {'LBM EM from truth (ceiling)':30s} CARI "
                  f"{results[-1]['cari']:.3f}", flush=True)
            for method, make in methods(seed).items():
                start = time.perf_counter()
                try:
                    model = make(k).fit(X)
                except ValueError as error:  # the spectral peers refuse empty rows
                    print(f"{name:28s} {method:30s} failed: {error}")
                    continue
                seconds = time.perf_counter() - start
                results.append(dict(
                    case=name, seed=seed, method=method,
                    row_ari=adjusted_rand_score(rows, model.row_labels_),
                    column_ari=adjusted_rand_score(cols, model.column_labels_),
                    cari=coclustering_adjusted_rand_score(rows, cols, model.row_labels_,
                                                          model.column_labels_),
                    seconds=seconds))
                print(f"{name:28s} {method:30s} row {results[-1]['row_ari']:.3f} "
                      f"col {results[-1]['column_ari']:.3f} CARI {results[-1]['cari']:.3f} "
                      f"{seconds:6.1f} s", flush=True)
    return results


def markdown(results):
    lines = ["| case | method | row ARI | column ARI | CARI | seconds |", "|---|---|---|---|---|---|"]
    keys = sorted({(r["case"], r["method"]) for r in results},
                  key=lambda km: [r["case"] for r in results].index(km[0]))
    for case, method in keys:
        rows = [r for r in results if r["case"] == case and r["method"] == method]
        mean = {f: np.mean([r[f] for r in rows]) for f in ("row_ari", "column_ari", "cari",
                                                          "seconds")}
        lines.append(f"| {case} | {method} | {mean['row_ari']:.3f} | {mean['column_ari']:.3f} "
                     f"| {mean['cari']:.3f} | {mean['seconds']:.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--cols", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--only", default=None, help="run only cases whose name has this")
    parser.add_argument("--out", default=None, help="folder for JSON and Markdown results")
    args = parser.parse_args()
    results = run(args.rows, args.cols, args.seeds, args.only)
    table = markdown(results)
    print(table)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "planted_sweep.json"), "w") as handle:
            json.dump(results, handle, indent=1)
        with open(os.path.join(args.out, "planted_sweep.md"), "w") as handle:
            handle.write(table + "\n")


if __name__ == "__main__":
    main()
