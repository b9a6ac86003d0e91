"""Memory and time of a row-sharded fit on 1, 2, 4... processes (``skcocluster.distributed``).

A sparse planted LBM matrix (diagonal blocks ``BLOCK_CONTRAST`` times as dense as the
background, as in ``scale.py``) is drawn once and saved as ``.npz``; then, for each number
of processes N, ``torchrun --nproc_per_node N -m skcocluster.distributed`` fits it (each
process reads only its rows) and every process reports its peak resident memory and its
seconds. The baseline is ``DeepLatentBlockCoclustering`` in one process at the same
settings: the defaults, block-model refinement included (which the sharded fit runs on
its shards too), or ``block_refinement=False`` with ``--no-refinement``; the other one-process
fit is shown too. The table gives, per N, the largest peak memory of a
process, its ratio to the baseline's, the wall and CPU seconds of the whole run, and the
co-clustering ARI; the projection line fits ``peak = base + bytes * (nnz + rows) / N`` to
the runs (memory per process shrinks with the shard; the runtime and the replicated column
side do not).

    flock -x /tmp/skc.lock python benchmarks/distributed.py --rows 20000 --cols 5000 \\
        --nnz 400000 --processes 1 2 4
    # a large matrix in parts (each under a few minutes), drawn once into --folder:
    python benchmarks/distributed.py --rows 100000 --cols 20000 --nnz 2000000 \\
        --folder /tmp/d100k --estimator default --processes
    python benchmarks/distributed.py --rows 100000 --cols 20000 --nnz 2000000 \\
        --folder /tmp/d100k --estimator none --processes 2
    # on a GPU machine (nccl, one process per GPU; world size 1 with one GPU):
    python benchmarks/distributed.py --rows 100000 --cols 20000 --nnz 2000000 \\
        --processes 1 --device cuda
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_CLUSTERS = 5
BLOCK_CONTRAST = 5.0


def planted_matrix(n_rows, n_cols, nnz, seed):
    """A sparse planted matrix with about ``nnz`` nonzeros, and its true labels."""
    from skcocluster.datasets import make_lbm

    density = nnz / (n_rows * n_cols)
    background = N_CLUSTERS * density / (N_CLUSTERS - 1 + BLOCK_CONTRAST)
    block = np.full((N_CLUSTERS, N_CLUSTERS), background)
    block[np.diag_indices(N_CLUSTERS)] = BLOCK_CONTRAST * background
    return make_lbm(n_rows, n_cols, N_CLUSTERS, block_params=block, sparse=True,
                    random_state=seed)


def _child(code, *args):
    """Run Python ``code`` in a fresh process; return its JSON answer, wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", code, *args], check=True,
                            capture_output=True, text=True, env=_env()).stdout
    return json.loads(output.strip().splitlines()[-1]), _seconds(started, before)


def _seconds(started, before):
    """Wall and CPU (user + system, of the children) seconds since ``started``."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - started, cpu


def _env():
    """The environment of the children: this checkout first on the path."""
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


DRAW = """
import json, sys, numpy as np, scipy.sparse as sp
sys.path.insert(0, {bench!r})
from distributed import planted_matrix
X, rows, cols = planted_matrix(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), 0)
sp.save_npz(sys.argv[4], sp.csr_matrix(X))
np.savez(sys.argv[5], rows=rows, cols=cols)
print(json.dumps({{"nnz": int(X.nnz)}}))
"""

SINGLE = """
import json, resource, sys, time, warnings, numpy as np, scipy.sparse as sp, torch
from skcocluster import DeepLatentBlockCoclustering
X = sp.load_npz(sys.argv[1])
params = json.loads(sys.argv[3])
started = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = DeepLatentBlockCoclustering({k}, random_state=0, **params).fit(X)
np.savez(sys.argv[2], row_labels=model.row_labels_, column_labels=model.column_labels_)
gpu = torch.cuda.max_memory_allocated() / 2 ** 20 if torch.cuda.is_available() else 0.0
print(json.dumps({{"fit_seconds": time.perf_counter() - started, "peak_gpu_mb": gpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

BASE = """
import json, resource, torch, torch.distributed, skcocluster.distributed
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cari(labels_path, truth):
    """Co-clustering ARI of saved labels against the truth."""
    from skcocluster.metrics import coclustering_adjusted_rand_score

    labels = np.load(labels_path)
    return float(coclustering_adjusted_rand_score(truth["rows"], truth["cols"],
                                                  labels["row_labels"],
                                                  labels["column_labels"]))


def run_sharded(n_processes, paths, args):
    """One torchrun of the sharded fit; the per-process records and the run's seconds."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={n_processes}", "-m", "skcocluster.distributed",
               paths["matrix"], "--n-clusters", str(N_CLUSTERS), "--output", paths["labels"],
               "--stats", paths["stats"], "--device", args.device]
    if args.no_refinement:
        command += ["--param", "block_refinement=False"]
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_env())
    if done.returncode != 0:
        sys.exit(f"the sharded fit failed ({done.returncode}):\n{done.stderr[-4000:]}")
    with open(paths["stats"]) as handle:
        return json.load(handle), _seconds(started, before)


def projection(rows):
    """Least squares ``peak = base + slope * (nnz + rows) / N`` over the sharded runs."""
    x = np.array([(row["nnz"] + row["n_rows"]) / row["processes"] for row in rows])
    y = np.array([row["peak_mb"] for row in rows])
    if len(set(x)) < 2:
        return None
    slope, base = np.polyfit(x, y, 1)
    return base, slope * 2 ** 20  # MiB, bytes per (nonzero + row)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--cols", type=int, default=5000)
    parser.add_argument("--nnz", type=int, default=400000)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2, 4],
                        help="numbers of processes of the sharded fits (none: only the "
                             "one-process estimator)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--estimator", choices=("default", "plain", "both", "none"),
                        default="both",
                        help="one-process fits: the defaults, block_refinement=False "
                             "('plain'), both, or none (the ratio column is then absent); "
                             "the baseline is the one at the sharded fits' settings")
    parser.add_argument("--no-refinement", action="store_true",
                        help="fit with block_refinement=False (sharded and baseline)")
    parser.add_argument("--folder", default=None,
                        help="keep the drawn matrix here, and reuse it if it is there")
    parser.add_argument("--json", default=None, help="write the records here")
    args = parser.parse_args()
    folder = args.folder or tempfile.mkdtemp(prefix="skc_distributed_")
    os.makedirs(folder, exist_ok=True)
    paths = {name: os.path.join(folder, f"{name}.{ext}") for name, ext in
             (("matrix", "npz"), ("truth", "npz"), ("labels", "npz"), ("stats", "json"))}
    bench = os.path.dirname(os.path.abspath(__file__))
    if not os.path.exists(paths["matrix"]):
        _child(DRAW.format(bench=bench), str(args.rows), str(args.cols), str(args.nnz),
               paths["matrix"], paths["truth"])
    truth = np.load(paths["truth"])
    drawn = {"nnz": int(sp.load_npz(paths["matrix"]).nnz)}
    base, _ = _child(BASE)
    print(f"matrix {args.rows} x {args.cols}, {drawn['nnz']} nonzeros; {N_CLUSTERS} clusters; "
          f"device {args.device}; a process with torch imported: "
          f"{base['peak_rss_mb']:.0f} MiB")
    records, baseline = [], None
    single_params = [("default", {"device": args.device}),
                     ("block_refinement=False", {"block_refinement": False,
                                                 "device": args.device})]
    single_params = {"default": single_params[:1], "plain": single_params[1:],
                     "both": single_params, "none": []}[args.estimator]
    if args.no_refinement:
        single_params.reverse()
    for name, params in single_params:
        record, (wall, cpu) = _child(SINGLE.format(k=N_CLUSTERS), paths["matrix"],
                                     paths["labels"], json.dumps(params))
        row = dict(run=f"estimator, one process ({name})", processes=1,
                   peak_mb=record["peak_rss_mb"], wall=wall, cpu=cpu,
                   fit=record["fit_seconds"], cari=cari(paths["labels"], truth),
                   peak_gpu_mb=record["peak_gpu_mb"])
        if (name == "default") != args.no_refinement or baseline is None:
            baseline = row
        records.append(row)
    sharded = []
    for n_processes in args.processes:
        stats, (wall, cpu) = run_sharded(n_processes, paths, args)
        row = dict(run=f"sharded, {n_processes} process(es)", processes=n_processes,
                   peak_mb=max(s["peak_rss_mb"] for s in stats), wall=wall, cpu=cpu,
                   fit=max(s["fit_seconds"] for s in stats), cari=cari(paths["labels"], truth),
                   nnz=drawn["nnz"], n_rows=args.rows,
                   peak_gpu_mb=max(s.get("peak_gpu_mb", 0.0) for s in stats))
        sharded.append(row)
        records.append(row)
    print("| run | peak MiB per process | vs one process | fit s | wall s | CPU s | CARI |")
    print("|---|---|---|---|---|---|---|")
    for row in records:
        gpu = f" (GPU {row['peak_gpu_mb']:.0f})" if row.get("peak_gpu_mb") else ""
        ratio = f"{row['peak_mb'] / baseline['peak_mb']:.2f}" if baseline else "-"
        print(f"| {row['run']} | {row['peak_mb']:.0f}{gpu} | {ratio} | {row['fit']:.1f} | "
              f"{row['wall']:.1f} | {row['cpu']:.1f} | {row['cari']:.3f} |")
    fitted = projection(sharded)
    if fitted is not None:
        print(f"projection: peak MiB per process ~ {fitted[0]:.0f} + "
              f"{fitted[1]:.0f} bytes x (nnz + rows) / N")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(records, handle, indent=1)


if __name__ == "__main__":
    main()
