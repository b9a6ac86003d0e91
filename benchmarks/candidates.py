"""Every candidate of the final choice, with its quality and the criteria that ranked it.

For each case and seed, one default ``DeepLatentBlockCoclustering`` fit runs while a probe
records every candidate partition of the refinement stage (the deep partition, its block
and degree-corrected refinements, the start and its refinements): its quality (the
co-clustering ARI on planted data, the rows' NMI on a corpus), whether it fills every
cluster, its held-out score under the block model and the two one-sided scores of the
adequacy check (``docs/model.rst``, "The final partition"), and which candidate was kept.
On planted data the block model's EM started at the truth (the ceiling of the planted
tables) is scored the same way.

Cases: the deep model's own latent-position model (``make_latent_position_blocks``, many
empty rows) at 3 x 3 and 4 x 3 clusters, and any ``.mat`` corpus given with ``--corpus``
(its raw counts and ``X > 0``)::

    python benchmarks/candidates.py --seeds 5
    python benchmarks/candidates.py --seeds 1 --no-planted --corpus ../shared/data/cstr.mat

Nothing is timed; the machine may be busy.
"""

import argparse
import os
import sys
import warnings

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import skcocluster._refine.stage as stage  # noqa: E402
from skcocluster import DeepLatentBlockCoclustering  # noqa: E402
from skcocluster._refine.block_em import refine_block_model  # noqa: E402
from skcocluster._refine.held_out import (held_out_cells, held_out_score,  # noqa: E402
                                          one_sided_score)
from skcocluster._refine.selection import fills_all_clusters, select  # noqa: E402
from skcocluster.datasets import load_matlab, make_latent_position_blocks  # noqa: E402
from skcocluster.metrics import coclustering_adjusted_rand_score  # noqa: E402

LATENT_CASES = {"latent positions 3x3": 3, "latent positions 4x3": (4, 3)}
SHAPE = (1500, 1000)


def scores(csr, likelihood, rows, columns, held_out):
    """Held-out score under the block model and the two one-sided scores."""
    transposed = (held_out[1], held_out[0], held_out[2])
    return (held_out_score(csr, likelihood, rows, columns, held_out),
            one_sided_score(csr, likelihood, rows, held_out),
            one_sided_score(csr.T.tocsr(), likelihood, columns, transposed))


class Probe:
    """Stands in for the stage's ``select``: records the candidates, then chooses as it."""

    def __init__(self, quality, truth=None):
        self.quality, self.truth, self.records = quality, truth, []

    def __call__(self, csr, likelihood, pool, own_if_inadequate=True):
        held_out = held_out_cells(csr)
        for candidate in pool:
            rows, columns = candidate.row_resp.argmax(1), candidate.column_resp.argmax(1)
            filled = fills_all_clusters(candidate.row_resp) and fills_all_clusters(
                candidate.column_resp)
            self.records.append((candidate.name, self.quality(rows, columns), filled,
                                 *scores(csr, likelihood, rows, columns, held_out)))
        if self.truth is not None:
            self.records.append(self._ceiling(csr, likelihood, pool[0], held_out))
        chosen = select(csr, likelihood, pool, own_if_inadequate)
        self.records.append(("kept: " + chosen.name, self.quality(
            chosen.row_resp.argmax(1), chosen.column_resp.argmax(1)), True, np.nan, np.nan,
            np.nan))
        return chosen

    def _ceiling(self, csr, likelihood, own, held_out):
        """The block model's EM started at the true partition, scored as a candidate."""
        rows, columns = self.truth
        refined_rows, refined_columns, _ = refine_block_model(
            csr, np.eye(own.row_resp.shape[1])[rows], np.eye(own.column_resp.shape[1])[columns],
            likelihood=likelihood)
        rows, columns = refined_rows.argmax(1), refined_columns.argmax(1)
        return ("ceiling (EM from the truth)", self.quality(rows, columns), True,
                *scores(csr, likelihood, rows, columns, held_out))


def fit_with_probe(X, n_clusters, seed, probe):
    """A default fit whose final choice goes through ``probe``."""
    original, stage.select = stage.select, probe
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DeepLatentBlockCoclustering(n_clusters, random_state=seed).fit(X)
    finally:
        stage.select = original
    return probe.records


def print_records(title, records, metric):
    print(f"\n{title}\n")
    print(f"| candidate | {metric} | fills all | held-out | one-sided rows | one-sided columns |")
    print("|---|---|---|---|---|---|")
    for name, quality, filled, *criteria in records:
        cells = " | ".join("" if np.isnan(c) else f"{c:.6f}" for c in criteria)
        print(f"| {name} | {quality:.3f} | {'yes' if filled else 'no'} | {cells} |")


def latent_cases(seeds):
    """Kept partition and ceiling of every latent-position case and seed."""
    summary = {}
    for name, n_clusters in LATENT_CASES.items():
        for seed in range(seeds):
            X, rows, columns = make_latent_position_blocks(*SHAPE, n_clusters,
                                                           random_state=seed)

            def quality(found_rows, found_columns, rows=rows, columns=columns):
                return coclustering_adjusted_rand_score(rows, columns, found_rows,
                                                        found_columns)

            records = fit_with_probe(X, n_clusters, seed, Probe(quality, (rows, columns)))
            print_records(f"{name}, seed {seed}", records, "CARI")
            kept = next(r[1] for r in records if r[0].startswith("kept"))
            ceiling = next(r[1] for r in records if r[0].startswith("ceiling"))
            summary.setdefault(name, []).append((kept, ceiling))
    print("\n| case | seeds | DLBM CARI (mean ± std) | ceiling CARI | seeds at or above "
          "the ceiling |\n|---|---|---|---|---|")
    for name, pairs in summary.items():
        kept, ceiling = np.array(pairs).T
        print(f"| {name} | {len(kept)} | {kept.mean():.3f} ± {kept.std():.3f} | "
              f"{ceiling.mean():.3f} ± {ceiling.std():.3f} | {(kept >= ceiling).sum()} |")


def corpus_case(path, seeds):
    """Every candidate of a corpus, raw and ``X > 0``."""
    bunch = load_matlab(path)
    X, labels = bunch.data, bunch.row_labels
    n_classes = np.unique(labels).size
    for kind, matrix in (("raw", X), ("X > 0", (X > 0).astype(float))):
        for seed in range(seeds):
            def quality(found_rows, _):
                return normalized_mutual_info_score(labels, found_rows)

            records = fit_with_probe(matrix, n_classes, seed, Probe(quality))
            print_records(f"{os.path.basename(path)} {kind}, seed {seed}", records, "NMI")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--corpus", nargs="*", default=[], help=".mat corpora")
    parser.add_argument("--no-planted", action="store_true")
    args = parser.parse_args()
    if not args.no_planted:
        latent_cases(args.seeds)
    for path in args.corpus:
        corpus_case(path, args.seeds)


if __name__ == "__main__":
    main()
