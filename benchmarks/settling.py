"""When does the deep LBM's partition settle? The epochs a default fit needs, measured.

For each case, one default fit (``random_state=0``) runs its full epoch budget while a
probe records, every ``--every`` epochs:

- pretraining: k-means labels of the row and column positions (one k-means++ draw, fixed
  seed), and their ARI with those of the previous record and of the last epoch;
- alternating phase: the memberships' labels, the share of rows and columns whose label
  changed since the previous record, the largest change of a soft membership, the ARI
  of the labels with those of the last epoch, and the rows' NMI with the true classes.

It prints one table per case: where a stopping rule on "the partition has settled" would
end each phase, and how far that partition is from the one of the full budget::

    python benchmarks/settling.py --data-dir ../shared/data --out benchmarks/results/settling

Nothing is timed; the machine may be busy.
"""

import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import skcocluster._train.dlbm as training  # noqa: E402
from skcocluster import DeepLatentBlockCoclustering  # noqa: E402
from skcocluster._train.callbacks import Callback  # noqa: E402


class PretrainProbe(Callback):
    """k-means labels of the positions every ``every`` epochs of pretraining."""

    def __init__(self, model, data, n_clusters, every, records):
        self.model, self.data, self.n_clusters = model, data, n_clusters
        self.every, self.records = every, records

    def on_epoch_end(self, state):
        if (state.epoch + 1) % self.every:
            return
        with torch.no_grad():
            row_mean, _, column_mean, _ = self.model.encode(self.data.adjacency,
                                                            self.data.adjacency_t)
        labels = [KMeans(k, n_init=1, random_state=0).fit(mean.double().numpy()).labels_
                  for k, mean in zip(self.n_clusters, (row_mean, column_mean))]
        self.records.append(dict(epoch=state.epoch + 1, labels=labels))


class TrainProbe(Callback):
    """The memberships' labels every ``every`` epochs of the alternating phase."""

    def __init__(self, every, records, truth):
        self.every, self.records, self.truth = every, records, truth

    def on_epoch_end(self, state):
        if (state.epoch + 1) % self.every or state.memberships is None:
            return
        resp = [m.detach().double().numpy() for m in state.memberships]
        labels = [r.argmax(1) for r in resp]
        self.records.append(dict(epoch=state.epoch + 1, resp=resp, labels=labels,
                                 nmi=normalized_mutual_info_score(self.truth, labels[0])))


def probed_fit(X, n_clusters, every, truth):
    """A default fit whose two phases carry the probes; returns the model and records."""
    records = {"pretrain": [], "train": []}
    pretrain, callbacks = training.pretrain, training.alternating_callbacks
    pair = (n_clusters, n_clusters) if np.isscalar(n_clusters) else tuple(n_clusters)

    def probed_pretrain(model, data, config, generator, progress):
        original = training.noise_callbacks
        training.noise_callbacks = lambda m, cells: original(m, cells) + [
            PretrainProbe(model, data, pair, every, records["pretrain"])]
        try:
            return pretrain(model, data, config, generator, progress)
        finally:
            training.noise_callbacks = original

    def probed_callbacks(model, data, config, clustering, generator):
        return [TrainProbe(every, records["train"], truth)] + callbacks(model, data, config,
                                                                 clustering, generator)

    training.pretrain, training.alternating_callbacks = probed_pretrain, probed_callbacks
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = DeepLatentBlockCoclustering(n_clusters, random_state=0).fit(X)
    finally:
        training.pretrain, training.alternating_callbacks = pretrain, callbacks
    return model, records


def summary(records):
    """Per record: agreement with the previous record and with the phase's last one."""
    out = {}
    for phase, rows in records.items():
        if not rows:
            continue
        last = rows[-1]["labels"]
        table = []
        for index, row in enumerate(rows):
            previous = rows[index - 1] if index else None
            entry = dict(epoch=row["epoch"], nmi=row.get("nmi", float("nan")),
                         ari_last=min(adjusted_rand_score(a, b)
                                      for a, b in zip(row["labels"], last)))
            if previous is not None:
                entry["ari_previous"] = min(adjusted_rand_score(a, b) for a, b in
                                            zip(row["labels"], previous["labels"]))
                if "resp" in row:
                    entry["changed"] = float(np.mean(np.concatenate(
                        [a != b for a, b in zip(row["labels"], previous["labels"])])))
                    entry["max_shift"] = float(max(np.abs(a - b).max() for a, b in
                                                   zip(row["resp"], previous["resp"])))
            table.append(entry)
        out[phase] = table
    return out


def cases(data_dir):
    """Planted cases of the sweep, then the corpora (``X > 0`` and raw)."""
    from planted_cases import cases as planted_cases
    from run_benchmarks import CORPORA, prepare_input

    from skcocluster.datasets import load_matlab

    for name, k, generate in planted_cases(1500, 1000):
        X, rows, cols = generate(0)
        yield f"planted {name}", X, k, rows
    if not data_dir:
        return
    for corpus, entry in CORPORA.items():
        path = os.path.join(data_dir, entry["file"])
        if not os.path.exists(path):
            continue
        bunch = load_matlab(path, matrix_key=entry["matrix_key"],
                            row_labels_key=entry["labels_key"])
        for kind in ("binary", "raw"):
            yield f"{corpus} {kind}", prepare_input(bunch.data, kind), entry["n_classes"], \
                bunch.row_labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--only", default=None, help="only cases whose name contains this")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name, X, k, truth in cases(args.data_dir):
        if args.only and args.only not in name:
            continue
        model, records = probed_fit(X, k, args.every, truth)
        table = summary(records)
        results[name] = dict(table=table, n_iter=int(model.n_iter_),
                             nmi=normalized_mutual_info_score(truth, model.row_labels_))
        print(f"\n## {name}: n_iter {model.n_iter_}, row NMI {results[name]['nmi']:.3f}")
        for phase, rows in table.items():
            print(f"{phase}: " + "  ".join(
                f"{r['epoch']}:{r.get('ari_previous', float('nan')):.3f}/{r['ari_last']:.3f}"
                + (f"/{r['changed']:.4f}/{r['max_shift']:.3f} nmi {r['nmi']:.3f}"
                   if "changed" in r else "")
                for r in rows), flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "settling.json"), "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
