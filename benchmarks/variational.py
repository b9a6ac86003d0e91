"""Benchmark of VariationalCoclustering: planted sweep, ablation, and a scale run.

Parts (``--part``):

- ``planted``: VariationalCoclustering (VC), DeepLatentBlockCoclustering (DLBM),
  SpectralCoclustering (SC) and SpectralBiclustering (SB) on planted Bernoulli latent block
  models (``make_lbm``): diagonal 4 x 4 blocks at several signal strengths, a 5 x 3
  checkerboard and an imbalanced 4 x 4. Co-clustering ARI (CARI) and seconds.
- ``ablation``: VC with each term of its objective switched off in turn (weight 0), and with
  the plain IWAE encoder gradient instead of DReG: CARI, final objective, the variance of
  the row encoder's gradient (over 50 draws on the same batch, at the fitted parameters) and
  seconds.
- ``real``: VC, DLBM, SC and SB on the document x word corpora of ``--data-dir`` (the
  ``.mat`` files of ``shared/data``), fitted on ``X > 0``; document NMI against the classes.
- ``--scale``: VC on a sparse 100000 x 20000 matrix with about 2M nonzeros (a planted
  10 x 10 diagonal model): seconds, peak resident memory (``ru_maxrss``), CARI and the
  candidate kept by the block refinement; then SpectralCoclustering's CARI on the same
  matrix.

Every fit runs with ``torch.set_num_threads(--threads)`` (default 1). Markdown tables go to
stdout and the records to ``<out>/variational_<part>.json``.

Examples
--------
::

    nice -n 10 python benchmarks/variational.py --part planted --seeds 1
    nice -n 10 python benchmarks/variational.py --part ablation
    nice -n 10 python benchmarks/variational.py --scale --threads 2
"""

import argparse
import json
import os
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import SpectralBiclustering, SpectralCoclustering
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster._data.validation import as_csr
from skcocluster._train.variational import encoder_gradient_draws, prepare_data
from skcocluster.datasets import load_matlab, make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score as cari

ABLATIONS = [("full model", {}),
             ("row + column bounds off", {"row_weight": 0.0, "column_weight": 0.0}),
             ("cell bound off", {"cell_weight": 0.0}),
             ("side InfoNCE off", {"contrast_weight": 0.0}),
             ("cell InfoNCE off", {"cell_contrast_weight": 0.0}),
             ("MI cross term off", {"mi_weight": 0.0}),
             ("plain IWAE gradient", {"gradient": "iwae"})]


def diagonal(k, background, lift):
    return np.full((k, k), background) + lift * np.eye(k)


def planted_cases(n_rows, n_cols):
    """(name, make_lbm kwargs, n_clusters) of the planted sweep."""
    rng = np.random.default_rng(3)
    checkerboard = rng.uniform(0.05, 0.35, size=(5, 3))
    cases = [(f"diagonal 4x4 +{lift}", dict(n_clusters=4, block_params=diagonal(4, 0.1, lift)),
              4) for lift in (0.3, 0.1, 0.06)]
    cases.append(("checkerboard 5x3", dict(n_clusters=(5, 3), block_params=checkerboard),
                  (5, 3)))
    cases.append(("imbalanced 4x4 +0.1", dict(
        n_clusters=4, block_params=diagonal(4, 0.1, 0.1),
        row_proportions=[0.5, 0.25, 0.15, 0.1], column_proportions=[0.4, 0.3, 0.2, 0.1]), 4))
    return [(name, dict(n_rows=n_rows, n_cols=n_cols, **kw), k) for name, kw, k in cases]


def timed_fit(model, X):
    """Fit; return the model, wall seconds and CPU seconds of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def methods(n_clusters, seed, vc_params):
    k = max(np.atleast_1d(n_clusters))
    return {
        "VC": lambda: VariationalCoclustering(n_clusters, random_state=seed, **vc_params),
        "DLBM": lambda: DeepLatentBlockCoclustering(n_clusters, random_state=seed),
        "SC": lambda: SpectralCoclustering(k, random_state=seed),
        "SB": lambda: SpectralBiclustering(n_clusters, random_state=seed),
    }


def run_planted(args):
    records = []
    for name, spec, n_clusters in planted_cases(args.rows, args.cols):
        for seed in range(args.seeds):
            X, rows, cols = make_lbm(random_state=seed, **spec)
            for method, make in methods(n_clusters, seed, args.vc_params).items():
                if method not in args.methods:
                    continue
                model, wall, cpu = timed_fit(make(), X)
                score = cari(rows, cols, model.row_labels_, model.column_labels_)
                records.append(dict(case=name, seed=seed, method=method, cari=score,
                                    wall_s=wall, cpu_s=cpu))
                print(f"  {name} seed {seed} {method}: CARI {score:.3f} ({cpu:.1f} s CPU)",
                      flush=True)
    print(markdown_table(records, "case", "method", "cari"))
    print(markdown_table(records, "case", "method", "cpu_s", fmt="{:.1f}"))
    return records


CORPORA = {
    "cstr": dict(file="cstr.mat", matrix_key="fea", labels_key="gnd", n_classes=4),
    "classic3": dict(file="classic3.mat", matrix_key="A", labels_key="labels", n_classes=3),
    "WebACE": dict(file="WebACE.mat", matrix_key="fea", labels_key="gnd", n_classes=20),
    "reviews": dict(file="reviews.mat", matrix_key="dtm", labels_key="classid", n_classes=5),
}


def run_real(args):
    records = []
    for name in args.corpora:
        spec = CORPORA[name]
        path = Path(args.data_dir) / spec["file"]
        if not path.exists():
            print(f"  {name}: {path} not found, skipped")
            continue
        bunch = load_matlab(path, matrix_key=spec["matrix_key"],
                            row_labels_key=spec["labels_key"])
        X = (bunch.data > 0).astype(np.float64)
        k = spec["n_classes"]
        for seed in range(args.seeds):
            for method, make in methods(k, seed, args.vc_params).items():
                if method not in args.methods:
                    continue
                try:
                    model, wall, cpu = timed_fit(make(), X)
                    nmi = normalized_mutual_info_score(bunch.row_labels, model.row_labels_)
                except ValueError as error:  # the spectral methods fail on empty rows
                    print(f"  {name} {method}: failed ({error})")
                    continue
                records.append(dict(case=name, seed=seed, method=method, nmi=nmi,
                                    wall_s=wall, cpu_s=cpu))
                print(f"  {name} seed {seed} {method}: NMI {nmi:.3f} ({cpu:.1f} s CPU)",
                      flush=True)
    print(markdown_table(records, "case", "method", "nmi"))
    print(markdown_table(records, "case", "method", "cpu_s", fmt="{:.1f}"))
    return records


def gradient_variance(model, X, gradient, n_draws=50):
    """Total variance of the row encoder heads' gradient over draws, at the fitted model."""
    config = model._config(model.row_memberships_.shape[1], model.column_memberships_.shape[1])
    config.gradient = gradient
    data = prepare_data(as_csr(X), config, torch.device("cpu"), 0)
    draws = encoder_gradient_draws(model.module_, data, config,
                                   torch.arange(min(256, X.shape[0])), n_draws, 0, "cpu")
    return float(draws.var(0).sum())


def run_ablation(args):
    blocks = diagonal(4, 0.1, args.ablation_lift)
    records = []
    for seed in range(args.seeds):
        X, rows, cols = make_lbm(args.rows, args.cols, 4, block_params=blocks, random_state=seed)
        for name, params in ABLATIONS:
            # The VAEs' own partition: the ablation is about the variational objective.
            model, wall, cpu = timed_fit(VariationalCoclustering(
                4, random_state=seed, **{"block_refinement": False, **args.vc_params,
                                         **params}), X)
            score = cari(rows, cols, model.row_labels_, model.column_labels_)
            record = dict(variant=name, seed=seed, cari=score, objective=model.lower_bound_,
                          grad_var_dreg=gradient_variance(model, X, "dreg"),
                          grad_var_iwae=gradient_variance(model, X, "iwae"),
                          wall_s=wall, cpu_s=cpu, terms=model.objective_terms_)
            records.append(record)
            print(f"  {name} seed {seed}: CARI {score:.3f} objective {model.lower_bound_:.4f} "
                  f"grad var dreg {record['grad_var_dreg']:.3g} iwae "
                  f"{record['grad_var_iwae']:.3g} ({cpu:.1f} s CPU)", flush=True)
    print(ablation_table(records))
    return records


def run_scale(args):
    k = 10
    # Mean density bg + lift / k = 0.001: 2M nonzeros in 100000 x 20000.
    blocks = diagonal(k, 0.0005, 0.005)
    started = time.perf_counter()
    X, rows, cols = make_lbm(args.scale_rows, args.scale_cols, k, block_params=blocks,
                             sparse=True, random_state=0)
    generate = time.perf_counter() - started
    params = {"batch_size": 2048, "pretrain_epochs": 3, "max_iter": 10, **args.vc_params}
    model, wall, cpu = timed_fit(VariationalCoclustering(k, random_state=0, verbose=1,
                                                         **params), X)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    record = dict(shape=list(X.shape), nnz=int(X.nnz), params=params, threads=args.threads,
                  generate_s=generate, wall_s=wall, cpu_s=cpu, peak_rss_gb=peak,
                  n_iter=model.n_iter_, cari=cari(rows, cols, model.row_labels_,
                                                   model.column_labels_),
                  kept=getattr(model, "refined_from_", "variational"))
    # The spectral peer on the same matrix (after VC, so it does not count in VC's peak).
    spectral, _, spectral_cpu = timed_fit(SpectralCoclustering(k, random_state=0), X)
    record.update(sc_cari=cari(rows, cols, spectral.row_labels_, spectral.column_labels_),
                  sc_cpu_s=spectral_cpu)
    print(f"SpectralCoclustering on the same matrix: CARI {record['sc_cari']:.3f} "
          f"({spectral_cpu:.1f} s CPU)")
    print("| matrix | nnz | threads | fit wall s | fit CPU s | peak RSS GB | epochs | CARI "
          "| kept |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {X.shape[0]} x {X.shape[1]} | {X.nnz} | {args.threads} | {wall:.0f} | {cpu:.0f} "
          f"| {peak:.2f} | {model.n_iter_} | {record['cari']:.3f} | {record['kept']} |")
    return [record]


def markdown_table(records, row_key, column_key, value_key, fmt="{:.3f}"):
    """Mean of ``value_key`` over seeds, one row per ``row_key``, one column per method."""
    row_names = list(dict.fromkeys(r[row_key] for r in records))
    column_names = list(dict.fromkeys(r[column_key] for r in records))
    lines = [f"| {row_key} ({value_key}) | " + " | ".join(column_names) + " |",
             "|---" * (len(column_names) + 1) + "|"]
    for name in row_names:
        cells = []
        for column in column_names:
            values = [r[value_key] for r in records
                      if r[row_key] == name and r[column_key] == column]
            cells.append(fmt.format(np.mean(values)) if values else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation_table(records):
    lines = ["| variant | CARI | objective per cell | encoder grad. variance DReG | "
             "encoder grad. variance IWAE | CPU s |", "|---|---|---|---|---|---|"]
    for name, _ in ABLATIONS:
        rows = [r for r in records if r["variant"] == name]
        lines.append(
            f"| {name} | {np.mean([r['cari'] for r in rows]):.3f} | "
            f"{np.mean([r['objective'] for r in rows]):.4f} | "
            f"{np.mean([r['grad_var_dreg'] for r in rows]):.3g} | "
            f"{np.mean([r['grad_var_iwae'] for r in rows]):.3g} | "
            f"{np.mean([r['cpu_s'] for r in rows]):.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["planted", "ablation", "real", "all"],
                        default="all")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--corpora", default="cstr,classic3,WebACE,reviews")
    parser.add_argument("--scale", action="store_true", help="only the scale run")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--cols", type=int, default=1000)
    parser.add_argument("--ablation-lift", type=float, default=0.1)
    parser.add_argument("--scale-rows", type=int, default=100_000)
    parser.add_argument("--scale-cols", type=int, default=20_000)
    parser.add_argument("--methods", default="VC,DLBM,SC,SB")
    parser.add_argument("--vc-params", type=json.loads, default={},
                        help="JSON dict of VariationalCoclustering parameters")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    args.methods = args.methods.split(",")
    args.corpora = args.corpora.split(",")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = (["scale"] if args.scale else
             ["planted", "ablation", "real"] if args.part == "all" else [args.part])
    for part in parts:
        print(f"\n## {part}\n", flush=True)
        run = {"planted": run_planted, "ablation": run_ablation, "real": run_real,
               "scale": run_scale}[part]
        records = run(args)
        path = out / f"variational_{part}.json"
        path.write_text(json.dumps(dict(args=vars(args), records=records), indent=1,
                                   default=str))
        print(f"\nwrote {os.fspath(path)}")


if __name__ == "__main__":
    main()
