"""The optional objectives of DeepLatentBlockCoclustering against its defaults.

Runs each configuration of ``CONFIGS`` (the default, ``clustering='module'``,
``graph_weight``, each with and without ``block_refinement``) on a planted sweep of
``make_lbm`` matrices (CARI against the planted partition, with SpectralCoclustering as
reference) and, with ``--data``, on the real corpora of that folder (document NMI, binary
input ``X > 0``). Prints Markdown tables and writes every record as JSON to ``--out``.

Usage::

    python benchmarks/options.py [--rows 1200] [--cols 800] [--seeds 1]
        [--first-seed 0] [--cases imbalanced ...] [--data ../shared/data]
        [--corpora cstr WebACE] [--configs default module ...] [--part planted real]
        [--out benchmarks/results]

Every fit runs on one thread (``torch.set_num_threads(1)``), so seconds are comparable
between configurations on a shared machine, not fast.
"""

import argparse
import json
import os
import time
import warnings

import numpy as np
import torch
from sklearn.cluster import SpectralCoclustering
from sklearn.metrics import normalized_mutual_info_score

from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import load_matlab, make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score

CONFIGS = {
    "default": {},
    "default, no refinement": dict(block_refinement=False),
    "module": dict(clustering="module"),
    "module, no refinement": dict(clustering="module", block_refinement=False),
    "graph 1": dict(graph_weight=1.0),
    "graph 1, no refinement": dict(graph_weight=1.0, block_refinement=False),
}
# Real corpora: file, matrix key, labels key, number of classes (shared/data/README.md).
CORPORA = {
    "cstr": ("cstr.mat", "fea", "gnd", 4),
    "classic3": ("classic3.mat", "A", "labels", 3),
    "WebACE": ("WebACE.mat", "fea", "gnd", 20),
    "reviews": ("reviews.mat", "dtm", "classid", 5),
}


def diagonal(k, background, lift):
    return np.full((k, k), background) + lift * np.eye(k)


def planted_cases():
    """(name, n_clusters, make_lbm keyword arguments) of the sweep."""
    checker = np.random.default_rng(12).uniform(0.1, 0.35, size=(5, 3))
    return [
        ("diagonal 4x4 +0.15 (clear)", 4, dict(block_params=diagonal(4, 0.2, 0.15))),
        ("diagonal 4x4 +0.08", 4, dict(block_params=diagonal(4, 0.2, 0.08))),
        ("diagonal 4x4 +0.05 (weak)", 4, dict(block_params=diagonal(4, 0.2, 0.05))),
        ("checkerboard 5x3", (5, 3), dict(block_params=checker)),
        ("imbalanced 4x4 +0.08", 4, dict(block_params=diagonal(4, 0.2, 0.08),
                                         row_proportions=[0.5, 0.25, 0.15, 0.1],
                                         column_proportions=[0.4, 0.3, 0.2, 0.1])),
    ]


def fit_config(params, n_clusters, X, seed):
    """Fit one configuration; returns the fitted model and its seconds."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DeepLatentBlockCoclustering(n_clusters, random_state=seed, **params).fit(X)
    return model, time.perf_counter() - start


def run_planted(n_rows, n_cols, seeds, configs, cases=None):
    records = []
    for name, k, lbm in planted_cases():
        if cases and not any(part in name for part in cases):
            continue
        for seed in seeds:
            X, rows, cols = make_lbm(n_rows, n_cols, k, random_state=seed, **lbm)
            start = time.perf_counter()
            peer = SpectralCoclustering(max(np.atleast_1d(k)), random_state=seed).fit(X)
            records.append(dict(part="planted", case=name, seed=seed,
                                config="SpectralCoclustering",
                                score=coclustering_adjusted_rand_score(
                                    rows, cols, peer.row_labels_, peer.column_labels_),
                                seconds=time.perf_counter() - start, kept=""))
            print_record(records[-1])
            for config in configs:
                model, seconds = fit_config(CONFIGS[config], k, X, seed)
                records.append(dict(part="planted", case=name, seed=seed, config=config,
                                    score=coclustering_adjusted_rand_score(
                                        rows, cols, model.row_labels_, model.column_labels_),
                                    seconds=seconds,
                                    kept=getattr(model, "refined_from_", "deep")))
                print_record(records[-1])
    return records


def run_real(data_dir, corpora, seeds, configs):
    records = []
    for corpus in corpora:
        file, matrix_key, labels_key, k = CORPORA[corpus]
        path = os.path.join(data_dir, file)
        if not os.path.exists(path):
            print(f"skip {corpus}: {path} not found", flush=True)
            continue
        bunch = load_matlab(path, matrix_key=matrix_key, row_labels_key=labels_key)
        X = (bunch.data > 0).astype(np.float64)
        for seed in seeds:
            for config in configs:
                model, seconds = fit_config(CONFIGS[config], k, X, seed)
                records.append(dict(part="real", case=corpus, seed=seed, config=config,
                                    score=normalized_mutual_info_score(bunch.row_labels,
                                                                       model.row_labels_),
                                    seconds=seconds,
                                    kept=getattr(model, "refined_from_", "deep")))
                print_record(records[-1])
    return records


def print_record(record):
    print(f"{record['case']:<28} {record['config']:<24} seed {record['seed']}  "
          f"score {record['score']:.3f}  {record['seconds']:.1f} s  {record['kept']}",
          flush=True)


def markdown_table(records, part, metric):
    """Cases as rows, configurations as columns: mean score (mean seconds)."""
    chosen = [r for r in records if r["part"] == part]
    if not chosen:
        return ""
    cases = list(dict.fromkeys(r["case"] for r in chosen))
    configs = list(dict.fromkeys(r["config"] for r in chosen))
    lines = [f"| {part} ({metric}, seconds) | " + " | ".join(configs) + " |",
             "|---" * (len(configs) + 1) + "|"]
    for case in cases:
        cells = []
        for config in configs:
            hits = [r for r in chosen if r["case"] == case and r["config"] == config]
            if not hits:
                cells.append("")
                continue
            score = np.mean([r["score"] for r in hits])
            seconds = np.mean([r["seconds"] for r in hits])
            cells.append(f"{score:.3f} ({seconds:.0f})")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--cols", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--cases", nargs="+", default=None,
                        help="planted cases whose name contains one of these words")
    parser.add_argument("--data", default=None, help="folder of the real corpora")
    parser.add_argument("--corpora", nargs="+", default=["cstr", "WebACE", "classic3"],
                        choices=tuple(CORPORA))
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=tuple(CONFIGS))
    parser.add_argument("--part", nargs="+", default=["planted", "real"],
                        choices=("planted", "real"))
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    records = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if "planted" in args.part:
        records += run_planted(args.rows, args.cols, seeds, args.configs, args.cases)
    if "real" in args.part and args.data:
        records += run_real(args.data, args.corpora, seeds, args.configs)
    print()
    print(markdown_table(records, "planted", "CARI"))
    print()
    print(markdown_table(records, "real", "document NMI"))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"options_{time.strftime('%Y%m%d_%H%M%S')}.json")
    with open(path, "w") as handle:
        json.dump(dict(args=vars(args), records=records), handle, indent=1)
    print(f"\nrecords written to {path}")


if __name__ == "__main__":
    main()
