"""Two facets against one: recovery of two independent planted row partitions.

Each case is a ``make_multi_facet_blocks`` matrix: the rows carry two independent
partitions, one seen by each half of the columns. Compared, by the ARI of the rows with
each planted partition:

- ``n_facets=2`` with ``n_clusters=[K1, K2]`` (defaults, so ``block_refinement=True``: each
  facet's rows refined by the block model given the other facets): each facet's labels
  against the truth it matches best (one-to-one), facet 1 against truth 1, the ARI between
  the two facets and the per-facet KL (a dead facet has KL near 0);
- the same with ``block_refinement=False`` (the deep model's facets);
- what the single-partition block-model selection would make of facet 1 (the candidate
  ``_selection.select`` picks from facet 1's deep memberships);
- ``n_facets=1`` with ``K1`` clusters and with ``K1 * K2`` clusters (the product of the two
  partitions, the only single partition that holds both);
- ``SpectralCoclustering`` with ``K1`` and ``K1 * K2`` clusters.

Usage::

    python benchmarks/facets.py [--seeds 0] [--cases all] [--out benchmarks/results]
        [--json facets.json] [--facets-only]

Every fit runs on one thread (``torch.set_num_threads(1)``); seconds are wall-clock on
whatever machine runs it.
"""

import argparse
import json
import os
import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import SpectralCoclustering
from sklearn.metrics import adjusted_rand_score

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._refine.selection import candidates, select
from skcocluster.datasets import make_multi_facet_blocks

SHAPE = dict(n_rows=600, n_cols=400)
CASES = {
    "3+2 diagonal, p_in 0.35": dict(n_clusters=(3, 2), p_in=0.35),
    "3+3 diagonal, p_in 0.35": dict(n_clusters=(3, 3), p_in=0.35),
    "2+4 diagonal, p_in 0.35": dict(n_clusters=(2, 4), p_in=0.35),
    "3+2 diagonal, p_in 0.30": dict(n_clusters=(3, 2), p_in=0.30),
    "3+2 diagonal, p_in 0.25 (weak)": dict(n_clusters=(3, 2), p_in=0.25),
    "3+3 non-diagonal tables": dict(n_clusters=(3, 3), block_params=[
        [[0.1, 0.4, 0.2], [0.35, 0.1, 0.1], [0.1, 0.15, 0.45]],
        [[0.4, 0.1], [0.1, 0.3], [0.25, 0.45]]]),
    "2+3 non-diagonal, 4 column clusters each": dict(n_clusters=(2, 3), block_params=[
        [[0.3, 0.1, 0.25, 0.05], [0.1, 0.3, 0.25, 0.2]],
        [[0.35, 0.1, 0.2, 0.1], [0.15, 0.3, 0.1, 0.25], [0.3, 0.3, 0.05, 0.35]]]),
    "3+2 shifted profiles": dict(n_clusters=(3, 2), block_params=[
        [[0.1, 0.3], [0.25, 0.45], [0.4, 0.1]],
        [[0.3, 0.15, 0.2], [0.15, 0.3, 0.35]]]),
}


def ari(truth, labels):
    return float(adjusted_rand_score(truth, labels))


def fit_quietly(model, X):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return model, time.perf_counter() - start


def matched_ari(truths, found):
    table = np.array([[ari(t, f) for f in found] for t in truths])
    rows, cols = linear_sum_assignment(-table)
    return table, table[rows, cols]


def two_facets(X, truths, n_clusters, seed):
    model, seconds = fit_quietly(DeepLatentBlockCoclustering(
        list(n_clusters), n_facets=2, random_state=seed), X)
    table, matched = matched_ari(truths, model.row_labels_facets_)
    deep, deep_seconds = fit_quietly(DeepLatentBlockCoclustering(
        list(n_clusters), n_facets=2, block_refinement=False, random_state=seed), X)
    csr = sp.csr_matrix(X)
    refined = select(csr, "bernoulli", candidates(
        csr, "bernoulli", (deep.row_memberships_, deep.column_memberships_)))
    return {
        "matched_ari": matched.tolist(),
        "deep_matched_ari": matched_ari(truths, deep.row_labels_facets_)[1].tolist(),
        "deep_seconds": deep_seconds,
        "facet1_vs_truth1": table[0, 0],
        "facet1_refined_vs_truth1": ari(truths[0], refined.row_resp.argmax(1)),
        "refined_from": refined.name,
        "facet_ari": float(model.facet_row_ari_[0, 1]),
        "row_facet_kl": model.row_facet_kl_.tolist(),
        "n_iter": int(model.n_iter_),
        "seconds": seconds,
    }


def one_partition(method, X, truths, n_clusters, seed):
    if method == "dlbm":
        model, seconds = fit_quietly(DeepLatentBlockCoclustering(n_clusters, random_state=seed),
                                     X)
    else:
        model, seconds = fit_quietly(SpectralCoclustering(n_clusters, random_state=seed), X)
    return {"ari": [ari(t, model.row_labels_) for t in truths], "seconds": seconds}


def run_case(name, spec, seed, references=True):
    X, truths, _ = make_multi_facet_blocks(**SHAPE, **spec, random_state=seed)
    k1, k2 = spec["n_clusters"]
    record = {"case": name, "seed": seed, "shape": list(X.shape),
              "facets": two_facets(X, truths, (k1, k2), seed)}
    if not references:
        return record
    for method in ("dlbm", "spectral"):
        for label, k in (("K1", k1), ("K1*K2", k1 * k2)):
            record[f"{method} {label}"] = one_partition(method, X, truths, k, seed)
    return record


def pair(values):
    return " / ".join(f"{v:.3f}" for v in values)


def markdown(records):
    lines = [
        "| case | seed | 2 facets: ARI truth 1 / truth 2 (matched) | facet 1 vs truth 1 "
        "| ARI between facets | KL per facet | seconds "
        "| 2 facets, no refinement: truth 1 / 2 | seconds "
        "| facet 1 (no refinement) + single-partition block selection "
        "| 1 facet, K1: truth 1 / 2 | 1 facet, K1*K2: truth 1 / 2 | seconds (K1*K2) "
        "| Spectral K1: truth 1 / 2 | Spectral K1*K2: truth 1 / 2 |",
        "|---" * 15 + "|",
    ]
    for r in records:
        f = r["facets"]
        references = ["", "", "", "", ""]
        if "dlbm K1" in r:
            references = [pair(r["dlbm K1"]["ari"]), pair(r["dlbm K1*K2"]["ari"]),
                          f"{r['dlbm K1*K2']['seconds']:.1f}", pair(r["spectral K1"]["ari"]),
                          pair(r["spectral K1*K2"]["ari"])]
        lines.append(
            f"| {r['case']} | {r['seed']} | {pair(f['matched_ari'])} | "
            f"{f['facet1_vs_truth1']:.3f} | {f['facet_ari']:.3f} | {pair(f['row_facet_kl'])} | "
            f"{f['seconds']:.1f} | {pair(f['deep_matched_ari'])} | {f['deep_seconds']:.1f} | "
            f"{f['facet1_refined_vs_truth1']:.3f} ({f['refined_from']}) | "
            + " | ".join(references) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cases", nargs="+", default=["all"],
                        help="case names (see CASES) or 'all'")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--json", default="facets.json", help="file name of the records")
    parser.add_argument("--facets-only", action="store_true",
                        help="skip the one-facet and SpectralCoclustering references")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = list(CASES) if args.cases == ["all"] else args.cases
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, args.json)
    records = []
    for name in names:
        for seed in args.seeds:
            records.append(run_case(name, CASES[name], seed,
                                    references=not args.facets_only))
            print(markdown(records[-1:]).splitlines()[-1], flush=True)
            with open(path, "w") as handle:  # after every case, so a long run keeps some
                json.dump(records, handle, indent=1)
    print()
    print(markdown(records))
    print(f"\nrecords written to {path}")


if __name__ == "__main__":
    main()
