"""Likelihood x degree correction: DeepLatentBlockCoclustering on counts, real values and
binary data, with ``degree_correction`` off and on, beside the spectral peers.

Planted cases (``skcocluster.datasets.make_lbm``, 1500 x 1000 by default, 4 clusters):

- ``counts, degree spread s`` (s = 0.75, 1): Poisson counts, block rates 0.3 off the
  diagonal and 0.45 on it, scaled by row and column degree factors LogNormal(0, s)
  (heavy-tailed totals: long and short documents, common and rare words; larger spreads
  leave rows empty, on which the spectral peers fail);
- ``binary, degree spread 1``: Bernoulli cells, probabilities 0.1 / 0.2, the same factors;
- ``gaussian blocks, noise n`` (n = 3, 4): real values, block means on a 4 x 4 table whose
  rows overlap, Gaussian noise of standard deviation n.

Real corpora (``--data-dir``, the ``.mat`` files of ``../shared/data``): document NMI with
the DLBM fitted on the binary matrix ``X > 0`` (Bernoulli) and on the raw weights
(``likelihood='auto'``: Poisson for counts and tf-idf).

Each DLBM is ``DeepLatentBlockCoclustering(n_clusters, random_state=seed,
degree_correction=dc, likelihood=...)`` with every other parameter at its default. The
peers: ``SpectralCoclustering`` and ``SpectralBiclustering`` on the raw values (on the
Gaussian case ``SpectralCoclustering`` gets ``X - X.min()``, as it needs non-negative
input)::

    python benchmarks/likelihoods.py --out benchmarks/results/likelihoods
    python benchmarks/likelihoods.py --part planted --seeds 3 --threads 1

It prints Markdown tables (CARI on planted data, document NMI on the corpora, with
seconds) and writes ``likelihoods.json`` and ``likelihoods.md``. Nothing here asserts.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

SHAPE = (1500, 1000)
SPREADS = (0.75, 1.0)
NOISES = (3.0, 4.0)
CORPORA = {"cstr": ("fea", "gnd"), "classic3": ("A", "labels"), "WebACE": ("fea", "gnd"),
           "reviews": ("dtm", "classid")}
GAUSSIAN_MEANS = [[1.0, 0.0, 0.0, 0.5], [0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 0.0],
                  [0.5, 0.5, 0.0, 1.0]]


def planted_cases(shape):
    """(name, n_clusters, make(seed) -> (X, rows, cols)) of every planted case."""
    from skcocluster.datasets import make_lbm

    def diagonal(off, on):
        return np.full((4, 4), off) + (on - off) * np.eye(4)

    cases = [(f"counts, degree spread {spread:g}", lambda seed, s=spread: make_lbm(
        *shape, 4, block_params=diagonal(0.3, 0.45), likelihood="poisson",
        row_degree_spread=s, column_degree_spread=s, random_state=seed))
        for spread in SPREADS]
    cases.append(("binary, degree spread 1", lambda seed: make_lbm(
        *shape, 4, block_params=diagonal(0.1, 0.2), row_degree_spread=1.0,
        column_degree_spread=1.0, random_state=seed)))
    cases += [(f"gaussian blocks, noise {noise:g}", lambda seed, n=noise: make_lbm(
        *shape, 4, block_params=GAUSSIAN_MEANS, likelihood="gaussian", noise_std=n,
        random_state=seed)) for noise in NOISES]
    return cases


def dlbm_configs(values_are_binary):
    """(label, input transform, estimator parameters) of the DLBM variants to run."""
    configs = []
    for dc in (False, True):
        tag = "DC" if dc else "no DC"
        configs.append((f"DLBM auto, {tag}", None, dict(degree_correction=dc)))
        if not values_are_binary:
            configs.append((f"DLBM on X>0, {tag}", "binary", dict(degree_correction=dc)))
    return configs


def fit_dlbm(X, n_clusters, seed, transform, params):
    from sklearn.exceptions import ConvergenceWarning

    from skcocluster import DeepLatentBlockCoclustering

    if transform == "binary":
        X = (X > 0).astype(np.float64)
    model = DeepLatentBlockCoclustering(n_clusters, random_state=seed, **params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return model, time.perf_counter() - start


def fit_peer(name, X, n_clusters, seed):
    import scipy.sparse as sp
    from sklearn.cluster import SpectralBiclustering, SpectralCoclustering

    if name == "SC":
        if not sp.issparse(X) and X.min() < 0:
            X = X - X.min()
        model = SpectralCoclustering(n_clusters, random_state=seed)
    else:
        model = SpectralBiclustering(n_clusters, random_state=seed)
    start = time.perf_counter()
    model.fit(X)
    return model, time.perf_counter() - start


def run_planted(seeds, shape):
    from skcocluster.metrics import coclustering_adjusted_rand_score as cari

    records = []
    for case, make in planted_cases(shape):
        for seed in range(seeds):
            X, rows, cols = make(seed)
            binary = bool(np.all((X == 0) | (X == 1)))
            runs = [(label, lambda t=t, p=p: fit_dlbm(X, 4, seed, t, p))
                    for label, t, p in dlbm_configs(binary)]
            runs += [(peer, lambda peer=peer: fit_peer(peer, X, 4, seed)) for peer in ("SC", "SB")]
            for label, fit in runs:
                records.append(measure(
                    dict(part="planted", case=case, seed=seed, method=label), fit,
                    lambda model: dict(cari=float(cari(rows, cols, model.row_labels_,
                                                       model.column_labels_)))))
    return records


def measure(record, fit, score):
    """Fit, score and print one run; a failed method is a result, not the end of the run."""
    try:
        model, seconds = fit()
        record.update(score(model), seconds=seconds,
                      likelihood=getattr(model, "likelihood_", None),
                      kept=getattr(model, "refined_from_", None))
    except Exception as error:
        record.update(error=f"{type(error).__name__}: {error}")
    print(json.dumps(record), flush=True)
    return record


def load_corpus(data_dir, name):
    import scipy.io
    import scipy.sparse as sp

    matrix_key, label_key = CORPORA[name]
    mat = scipy.io.loadmat(os.path.join(data_dir, f"{name}.mat"))
    X = sp.csr_matrix(mat[matrix_key], dtype=np.float64)
    labels = np.asarray(mat[label_key]).ravel()
    return X, labels


def run_real(seeds, data_dir, corpora):
    from sklearn.metrics import normalized_mutual_info_score as nmi

    records = []
    for name in corpora:
        X, labels = load_corpus(data_dir, name)
        k = np.unique(labels).size
        for seed in range(seeds):
            for label, transform, params in dlbm_configs(False):
                records.append(measure(
                    dict(part="real", case=name, seed=seed, method=label),
                    lambda t=transform, p=params: fit_dlbm(X, k, seed, t, p),
                    lambda model: dict(nmi=float(nmi(labels, model.row_labels_)))))
    return records


def markdown(records, metric):
    """One table: cases as rows, methods as columns, 'mean (seconds)' in each cell."""
    chosen = [r for r in records if metric in r or "error" in r]
    cases = list(dict.fromkeys(r["case"] for r in chosen))
    methods = list(dict.fromkeys(r["method"] for r in chosen))
    lines = ["| case | " + " | ".join(methods) + " |",
             "|---|" + "---|" * len(methods)]
    for case in cases:
        cells = []
        for method in methods:
            runs = [r for r in chosen if r["case"] == case and r["method"] == method]
            ok = [r for r in runs if metric in r]
            if not ok:
                cells.append("failed" if runs else "-")
                continue
            values = np.array([r[metric] for r in ok])
            seconds = np.mean([r["seconds"] for r in ok])
            spread = f" ± {values.std():.3f}" if len(values) > 1 else ""
            cells.append(f"{values.mean():.3f}{spread} ({seconds:.0f} s)")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("planted", "real", "all"), default="all")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--shape", default="x".join(map(str, SHAPE)))
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data"))
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA), choices=list(CORPORA))
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (comparable timings on a shared machine)")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "likelihoods"))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.lower().split("x"))
    records = []
    if args.part in ("planted", "all"):
        records += run_planted(args.seeds, shape)
    if args.part in ("real", "all"):
        records += run_real(args.seeds, args.data_dir, args.corpora)
    tables = []
    if any(r["part"] == "planted" for r in records):
        tables.append("Planted data, CARI (mean fit seconds)\n\n" + markdown(
            [r for r in records if r["part"] == "planted"], "cari"))
    if any(r["part"] == "real" for r in records):
        tables.append("Real corpora, document NMI (mean fit seconds)\n\n" + markdown(
            [r for r in records if r["part"] == "real"], "nmi"))
    text = "\n\n".join(tables)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    meta = dict(argv=sys.argv, seeds=args.seeds, shape=shape, threads=args.threads,
                date=time.strftime("%Y-%m-%d %H:%M"))
    with open(os.path.join(args.out, "likelihoods.json"), "w") as handle:
        json.dump(dict(meta=meta, records=records), handle, indent=1)
    with open(os.path.join(args.out, "likelihoods.md"), "w") as handle:
        handle.write(text + "\n")


if __name__ == "__main__":
    main()
