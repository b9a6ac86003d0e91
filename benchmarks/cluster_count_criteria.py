"""Why ``n_clusters='auto'`` stops short on weak planted matrices: criteria compared at the
planted ``(L, Q)`` and its neighbours.

For each weak planted case and seed, and each block model (degree-corrected Poisson, plain),
every pair within ``(L - 2 .. L + 1, Q - 1 .. Q + 1)`` gets the memberships of each of the
search's starts, refined by the block model's EM (the start of best ``icl``), scored by:

* ``icl``: the exact ICL of that hard partition (what the search maximises);
* ``vicl``: the variational ICL of the EM's soft memberships (the ICL's formula at their
  expected statistics plus their entropies);
* ``bic``: the maximised variational bound of the EM's soft memberships less
  ``(L Q / 2) log(M P) + ((L - 1) / 2) log M + ((Q - 1) / 2) log P``
  (``count_criteria.py``);
* ``held``: the held-out row log-likelihood per cell (the estimators' ``score``), the
  partition fitted on half of the rows (the search's starts and EM on those rows alone),
  scored on the other half, both halves in turn.

Printed per case and seed: the ICL search's choice, the argmax pair of each criterion (on
the neighbourhood), the ICL of the planted partition and of the EM started from it at the
truth (a search failure where they are above the search's), and the criteria's values
relative to the truth.

Command::

    flock -s /tmp/skc.lock python benchmarks/cluster_count_criteria.py [--seeds 3]
"""

import argparse
import os
import sys
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster_count import PLANTED, WEAK  # noqa: E402
from count_criteria import variational_bic, variational_icl  # noqa: E402
from skcocluster._likelihoods import as_likelihood, resolve_likelihood  # noqa: E402
from skcocluster._select.cluster_count import (MAX_AUTO_CLUSTERS, _Search,  # noqa: E402
                                               choose_cluster_counts, refined_memberships,
                                               spectral_coordinates)
from skcocluster._select.icl import icl, icl_of_memberships  # noqa: E402
from skcocluster._select.row_evidence import RowEvidence  # noqa: E402
from skcocluster.datasets import make_lbm  # noqa: E402

CASES = {"Bernoulli (4, 3) weaker": PLANTED["Bernoulli (4, 3) weaker"], **WEAK}
CRITERIA = {"icl": icl_of_memberships, "vicl": variational_icl, "bic": variational_bic}


def new_search(csr, likelihood, degree_corrected, seed):
    ceiling = (min(MAX_AUTO_CLUSTERS, csr.shape[0]), min(MAX_AUTO_CLUSTERS, csr.shape[1]))
    embedding = spectral_coordinates(csr, max(ceiling) + 1, likelihood.real_valued, seed)
    return _Search(csr, likelihood, degree_corrected, seed, embedding, ceiling,
                   icl_of_memberships)


def fitted(search, shape):
    """Criteria of the EM memberships of the search's start of best ICL at ``shape``, and
    those memberships."""
    best = None
    for start in search.candidate_starts(shape):
        memberships = refined_memberships(search.csr, *start, shape, search.likelihood,
                                          search.degree_corrected)
        scores = {name: criterion(search.csr, *memberships, search.likelihood,
                                  search.degree_corrected)
                  for name, criterion in CRITERIA.items()}
        if best is None or scores["icl"] > best[0]["icl"]:
            best = (scores, memberships)
    return best


def held_out(csr, likelihood, shape, seed, halves):
    """Mean held-out row log-likelihood per cell over the two halves of the rows."""
    scores = []
    for train, test in (halves, halves[::-1]):
        search = new_search(csr[train], likelihood, False, seed)
        row_resp, column_resp = fitted(search, shape)[1]
        evidence = RowEvidence.fit(csr[train], row_resp, column_resp, likelihood)
        scores.append(evidence.score(csr[test]))
    return float(np.mean(scores))


def neighbourhood(truth):
    return [(truth[0] + dl, truth[1] + dq) for dl in (-2, -1, 0, 1) for dq in (-1, 0, 1)
            if truth[0] + dl >= 1 and truth[1] + dq >= 1]


def run_case(name, params, seed):
    params = {"n_rows": 300, "n_cols": 200, **params}
    X, true_rows, true_columns = make_lbm(random_state=seed, **params)
    csr = sp.csr_matrix(X)
    likelihood = as_likelihood(resolve_likelihood(csr, params.get("likelihood", "auto")))
    truth = tuple(params["n_clusters"])
    cpu = time.process_time()
    choice = choose_cluster_counts(csr, likelihood, seed, criterion=icl_of_memberships)
    cpu = time.process_time() - cpu
    chosen = (choice.n_row_clusters, choice.n_column_clusters)
    halves = np.array_split(np.random.default_rng(seed).permutation(csr.shape[0]), 2)
    pairs = neighbourhood(truth)
    print(f"\n### {name}, seed {seed}: the ICL search chose {chosen} ({choice.model}, "
          f"{cpu:.2f} CPU s)")
    heldout = {pair: held_out(csr, likelihood, pair, seed, halves) for pair in pairs}
    print(f"held-out row score argmax {max(heldout, key=heldout.get)}; "
          + ", ".join(f"{p}: {heldout[p] - heldout[truth]:+.5f}" for p in pairs))
    for degree_corrected in (True, False):
        search = new_search(csr, likelihood, degree_corrected, seed)
        results = {pair: fitted(search, pair)[0] for pair in pairs}
        planted = icl(csr, true_rows, true_columns, truth, likelihood, degree_corrected)
        from_truth = icl_of_memberships(csr, *refined_memberships(
            csr, true_rows, true_columns, truth, likelihood, degree_corrected),
            likelihood, degree_corrected)
        label = "dc" if degree_corrected else "plain"
        print(f"{label}: at the truth, ICL of the planted partition "
              f"{planted - results[truth]['icl']:+.1f}, of the EM from it "
              f"{from_truth - results[truth]['icl']:+.1f} (against the search's)")
        for name in CRITERIA:
            values = {pair: result[name] for pair, result in results.items()}
            print(f"  {name} argmax {max(values, key=values.get)}; minus truth: "
                  + ", ".join(f"{p}: {values[p] - values[truth]:+.1f}" for p in pairs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--case", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args()
    with threadpool_limits(1):
        for name in args.case:
            for seed in range(args.seeds):
                run_case(name, CASES[name], seed)


if __name__ == "__main__":
    main()
