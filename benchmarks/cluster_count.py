"""``n_clusters='auto'``: the chosen numbers of clusters against the truth, and their cost.

Three parts (``--part``):

* ``planted``: matrices from ``make_lbm`` (Bernoulli and Poisson, clear and weak, with and
  without degree heterogeneity; ``--weak``: further weak cases and matrices without
  blocks), several seeds each; for each, the ``(L, Q)`` the search chooses (by
  ``--criterion``), the truth, the pairs it scored and its CPU and wall seconds (the search
  alone, one thread). ``--fit`` also times a default ``DeepLatentBlockCoclustering('auto')``
  fit on the first seed of each case of at most 1e6 cells, with the co-clustering ARI of
  its partition.
* ``corpora``: the document x word corpora of ``--data-dir`` (``run_benchmarks.CORPORA``),
  binary (``X > 0``, the Bernoulli ICL) and raw (the degree-corrected Poisson ICL): the
  chosen ``(L, Q)`` against the number of document classes (columns have no truth), the row
  NMI of the search's own partition with the classes, and the cost (``--corpus`` and
  ``--input`` run one at a time).
* ``grid-search``: ``GridSearchCV`` over ``n_clusters`` on a clear 300 x 200 matrix with a
  planted ``(3, 2)`` checkerboard, scored by ``score`` (the block model's held-out row
  likelihood) and by ``elbo`` (the deep model's held-out bound, what ``score`` was before),
  for both estimators: the mean of each over 3 folds and the pair each picks.

Commands (timings under an exclusive lock on a shared machine)::

    flock -x /tmp/skc.lock python benchmarks/cluster_count.py --part planted --fit
    flock -x /tmp/skc.lock python benchmarks/cluster_count.py --part planted --weak \\
        [--seeds 10] [--criterion icl] [--case "Bernoulli (4, 3) weaker"]
    flock -x /tmp/skc.lock python benchmarks/cluster_count.py --part corpora \\
        --data-dir ../shared/data [--corpus cstr classic3]
    flock -x /tmp/skc.lock python benchmarks/cluster_count.py --part grid-search
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score
from sklearn.model_selection import GridSearchCV, KFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from count_criteria import variational_bic, variational_icl  # noqa: E402
from run_benchmarks import CORPORA  # noqa: E402
from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering  # noqa: E402
from skcocluster._likelihoods import resolve_likelihood  # noqa: E402
from skcocluster._select.cluster_count import choose_cluster_counts  # noqa: E402
from skcocluster._select.icl import icl_of_memberships  # noqa: E402
from skcocluster.datasets import load_matlab, make_lbm  # noqa: E402
from skcocluster.metrics import coclustering_adjusted_rand_score  # noqa: E402


def profiles(n_row_clusters, n_column_clusters, background, lift):
    """Row cluster l lifted in column cluster l mod Q, and beyond the Q-th row cluster also
    in l + 1 mod Q, so that every row profile differs."""
    block = np.full((n_row_clusters, n_column_clusters), float(background))
    clusters = np.arange(n_row_clusters)
    block[clusters, clusters % n_column_clusters] += lift
    extra = clusters[n_column_clusters:]
    block[extra, (extra + 1) % n_column_clusters] += lift
    return block


# name -> make_lbm arguments (n_clusters is the truth).
PLANTED = {
    "Bernoulli (3, 2) clear": dict(n_clusters=(3, 2),
                                   block_params=[[0.5, 0.1], [0.1, 0.5], [0.4, 0.4]]),
    "Bernoulli (4, 4) clear": dict(n_clusters=(4, 4), block_params=profiles(4, 4, 0.1, 0.4)),
    "Bernoulli (4, 3) weak": dict(n_clusters=(4, 3), block_params=profiles(4, 3, 0.1, 0.12)),
    "Bernoulli (4, 3) weaker": dict(n_clusters=(4, 3), block_params=profiles(4, 3, 0.1, 0.1)),
    "Bernoulli (4, 4) degrees": dict(n_clusters=(4, 4), block_params=profiles(4, 4, 0.05, 0.2),
                                     row_degree_spread=0.6, column_degree_spread=0.6),
    "Bernoulli (6, 5) 1000 x 800": dict(n_rows=1000, n_cols=800, n_clusters=(6, 5),
                                        block_params=profiles(6, 5, 0.1, 0.15)),
    "Poisson (3, 2) clear": dict(n_clusters=(3, 2), likelihood="poisson",
                                 block_params=[[2.0, 0.5], [0.5, 2.0], [1.5, 1.5]]),
    "Poisson (4, 4) degrees": dict(n_clusters=(4, 4), likelihood="poisson",
                                   block_params=profiles(4, 4, 0.5, 1.5),
                                   row_degree_spread=0.8, column_degree_spread=0.8),
    "Poisson (4, 3) weak": dict(n_clusters=(4, 3), likelihood="poisson",
                                block_params=profiles(4, 3, 0.2, 0.25)),
    "Poisson (8, 6) sparse, degrees": dict(n_rows=2000, n_cols=1500, n_clusters=(8, 6),
                                           likelihood="poisson",
                                           block_params=profiles(8, 6, 0.02, 0.1),
                                           row_degree_spread=1.0, column_degree_spread=1.0,
                                           sparse=True),
}

# Weak cases near the detection limit (--weak): other shapes, uneven proportions, Poisson.
WEAK = {
    "Bernoulli (4, 3) lift 0.09": dict(n_clusters=(4, 3),
                                       block_params=profiles(4, 3, 0.1, 0.09)),
    "Bernoulli (3, 3) lift 0.1": dict(n_clusters=(3, 3), block_params=profiles(3, 3, 0.1, 0.1)),
    "Bernoulli (5, 4) lift 0.12": dict(n_clusters=(5, 4),
                                       block_params=profiles(5, 4, 0.1, 0.12)),
    "Bernoulli (4, 3) lift 0.12 uneven": dict(n_clusters=(4, 3),
                                              block_params=profiles(4, 3, 0.1, 0.12),
                                              row_proportions=[0.4, 0.3, 0.2, 0.1],
                                              column_proportions=[0.5, 0.3, 0.2]),
    "Poisson (4, 3) lift 0.2": dict(n_clusters=(4, 3), likelihood="poisson",
                                    block_params=profiles(4, 3, 0.2, 0.2)),
    "Poisson (3, 3) lift 0.15": dict(n_clusters=(3, 3), likelihood="poisson",
                                     block_params=profiles(3, 3, 0.2, 0.15)),
}

# Matrices without block structure (--weak): the truth is one cluster per side.
NULL = {
    "Bernoulli noise, density 0.1": dict(n_clusters=(1, 1), block_params=[[0.1]]),
    "Bernoulli noise, density 0.4": dict(n_clusters=(1, 1), block_params=[[0.4]]),
    "Bernoulli degrees only": dict(n_clusters=(1, 1), block_params=[[0.1]],
                                   row_degree_spread=0.8, column_degree_spread=0.8),
    "Poisson noise, rate 0.5": dict(n_clusters=(1, 1), likelihood="poisson",
                                    block_params=[[0.5]]),
    "Poisson degrees only": dict(n_clusters=(1, 1), likelihood="poisson", block_params=[[1.0]],
                                 row_degree_spread=1.0, column_degree_spread=1.0),
    "Gaussian noise": dict(n_clusters=(1, 1), likelihood="gaussian", block_params=[[0.0]]),
}


# --fit fits the deep model on cases of at most this many cells (a short exclusive run).
MAX_FIT_CELLS = 10 ** 6


# --criterion: what the search maximises.
CRITERIA = {"icl": icl_of_memberships, "bic": variational_bic, "vicl": variational_icl}


def timed_search(X, likelihood, seed, criterion="icl"):
    """The search's choice, with its CPU and wall seconds (one thread)."""
    csr = sp.csr_matrix(X)
    with threadpool_limits(1):
        cpu, wall = time.process_time(), time.perf_counter()
        choice = choose_cluster_counts(csr, resolve_likelihood(csr, likelihood), seed,
                                       criterion=CRITERIA[criterion])
        return choice, time.process_time() - cpu, time.perf_counter() - wall


def run_planted(cases, seeds, fit, criterion):
    """The planted table (module docstring)."""
    print("| case | shape | truth | chosen (per seed) | pairs scored | CPU s | wall s |"
          + (" auto fit s | CARI |" if fit else ""))
    print("|---|---|---|---|---|---|---|" + ("---|---|" if fit else ""))
    for name, params in cases.items():
        params = {"n_rows": 300, "n_cols": 200, **params}
        chosen, scored, cpu, wall = [], [], [], []
        for seed in range(seeds):
            X, rows, cols = make_lbm(random_state=seed, **params)
            choice, seconds, wall_seconds = timed_search(X, params.get("likelihood", "auto"),
                                                         seed, criterion)
            chosen.append((choice.n_row_clusters, choice.n_column_clusters))
            scored.append(len(choice.scores))
            cpu.append(seconds)
            wall.append(wall_seconds)
        line = (f"| {name} | {params['n_rows']} x {params['n_cols']} | "
                f"{tuple(params['n_clusters'])} | {', '.join(map(str, chosen))} | "
                f"{min(scored)}-{max(scored)} | {np.mean(cpu):.2f} | {np.mean(wall):.2f} |")
        if fit and params["n_rows"] * params["n_cols"] <= MAX_FIT_CELLS:
            line += " %.1f | %.3f |" % auto_fit(params)
        elif fit:
            line += " - | - |"
        print(line, flush=True)


def auto_fit(params):
    """Wall seconds and CARI of a default DeepLatentBlockCoclustering('auto') fit, seed 0."""
    X, rows, cols = make_lbm(random_state=0, **params)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DeepLatentBlockCoclustering("auto", random_state=0).fit(X)
    seconds = time.perf_counter() - started
    return seconds, coclustering_adjusted_rand_score(rows, cols, model.row_labels_,
                                                     model.column_labels_)


def run_corpora(data_dir, names, criterion, inputs=("X > 0", "raw")):
    """The corpora table (module docstring), for the corpora ``names``."""
    print("| corpus | shape | input | classes | chosen (L, Q) | pairs scored | row NMI | "
          "CPU s | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        spec = CORPORA[name]
        path = os.path.join(data_dir, spec["file"])
        if not os.path.exists(path):
            print(f"| {name} | not found in {data_dir} |")
            continue
        bunch = load_matlab(path, matrix_key=spec["matrix_key"],
                            row_labels_key=spec["labels_key"])
        X = sp.csr_matrix(bunch.data, dtype=np.float64)
        for kind in inputs:
            matrix = (X > 0).astype(np.float64) if kind == "X > 0" else X
            choice, cpu, wall = timed_search(matrix, "auto", 0, criterion)
            nmi = normalized_mutual_info_score(bunch.row_labels, choice.row_labels)
            print(f"| {name} | {X.shape[0]} x {X.shape[1]} | {kind} | {spec['n_classes']} | "
                  f"({choice.n_row_clusters}, {choice.n_column_clusters}) | "
                  f"{len(choice.scores)} | {nmi:.3f} | {cpu:.1f} | {wall:.1f} |", flush=True)


def run_grid_search():
    """The grid-search table (module docstring)."""
    X, _, _ = make_lbm(300, 200, (3, 2), block_params=[[0.5, 0.1], [0.1, 0.5], [0.4, 0.4]],
                       random_state=0)
    grid = [(1, 1), (2, 2), (3, 2), (3, 3), (4, 2), (4, 3)]
    scoring = {"score": lambda model, X_test, y=None: model.score(X_test),
               "elbo": lambda model, X_test, y=None: model.elbo(X_test)}
    print("| estimator | criterion | " + " | ".join(map(str, grid)) + " | picks | "
          "wall s |")
    print("|---|---|" + "---|" * len(grid) + "---|---|")
    for estimator in (DeepLatentBlockCoclustering, VariationalCoclustering):
        started = time.perf_counter()
        search = GridSearchCV(estimator(pretrain_epochs=50, max_iter=50, random_state=0),
                              {"n_clusters": grid}, scoring=scoring, refit=False,
                              cv=KFold(3, shuffle=True, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X)
        seconds = time.perf_counter() - started
        for criterion in scoring:
            means = search.cv_results_[f"mean_test_{criterion}"]
            spread = search.cv_results_[f"std_test_{criterion}"]
            cells = " | ".join(f"{m:.5f} ± {s:.4f}" for m, s in zip(means, spread))
            print(f"| {estimator.__name__} | {criterion} | {cells} | "
                  f"{grid[int(np.argmax(means))]} | {seconds:.0f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["planted", "corpora", "grid-search"],
                        default="planted")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fit", action="store_true",
                        help="also time a default DeepLatentBlockCoclustering('auto') fit")
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "data"))
    parser.add_argument("--corpus", nargs="+", choices=list(CORPORA), default=list(CORPORA))
    parser.add_argument("--weak", action="store_true",
                        help="planted: the further weak cases and matrices without blocks")
    parser.add_argument("--criterion", choices=list(CRITERIA), default="icl",
                        help="what the search maximises (icl: the default of 'auto'; bic "
                             "and vicl: count_criteria.py, measured and not kept)")
    parser.add_argument("--input", choices=["X > 0", "raw", "both"], default="both",
                        help="corpora: binary (X > 0), raw counts or both")
    parser.add_argument("--case", nargs="+", help="planted: only these cases (by name)")
    args = parser.parse_args()
    if args.part == "planted":
        cases = {**WEAK, **NULL} if args.weak else PLANTED
        if args.case:
            cases = {name: {**PLANTED, **WEAK, **NULL}[name] for name in args.case}
        run_planted(cases, args.seeds, args.fit, args.criterion)
    elif args.part == "corpora":
        run_corpora(args.data_dir, args.corpus, args.criterion,
                    ["X > 0", "raw"] if args.input == "both" else [args.input])
    else:
        run_grid_search()


if __name__ == "__main__":
    main()
