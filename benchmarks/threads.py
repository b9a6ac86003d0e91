"""Threads: a default fit alone, beside a busy process, and in a parallel grid search.

Times ``DeepLatentBlockCoclustering(4, random_state=0).fit`` on planted binary matrices
with ``n_jobs=None`` (one thread, the default) and ``n_jobs=-1`` (every core), once on an
otherwise idle machine and once beside a second process that keeps one core busy; then a
``GridSearchCV`` over ``n_clusters`` with ``n_jobs=1`` and ``n_jobs=2``::

    python benchmarks/threads.py --out benchmarks/results/threads

Every measurement runs in a fresh process, one at a time; wall and CPU seconds of ``fit``
(or of the grid search) alone. Run it on an idle machine.
"""

import argparse
import json
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

SHAPES = ((300, 200), (1500, 1000))


def planted(n_rows, n_cols):
    """Binary 4 x 4 diagonal blocks (background 0.2, lift 0.1)."""
    import numpy as np

    from skcocluster.datasets import make_lbm

    blocks = np.full((4, 4), 0.2) + 0.1 * np.eye(4)
    return make_lbm(n_rows, n_cols, 4, block_params=blocks, random_state=0)


def time_fit(shape, n_jobs):
    """Seconds (wall, CPU) of one default fit with ``n_jobs``."""
    from skcocluster import DeepLatentBlockCoclustering

    X, _, _ = planted(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = time.perf_counter(), time.process_time()
        DeepLatentBlockCoclustering(4, n_jobs=n_jobs, random_state=0).fit(X)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_grid_search(n_jobs):
    """Seconds (wall, CPU of this process) of a 3-fold grid search over n_clusters 2-4."""
    from sklearn.model_selection import GridSearchCV

    from skcocluster import DeepLatentBlockCoclustering

    X, _, _ = planted(300, 200)
    search = GridSearchCV(DeepLatentBlockCoclustering(random_state=0),
                          {"n_clusters": [2, 3, 4]}, cv=3, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall, cpu = time.perf_counter(), time.process_time()
        search.fit(X)
    return time.perf_counter() - wall, time.process_time() - cpu


def spin(seconds):
    """Keep one core busy for ``seconds`` (the competing process)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measure(function, *args, busy=False):
    """Run ``function(*args)`` in a fresh process, beside a spinning one if ``busy``."""
    context = multiprocessing.get_context("spawn")
    spinner = None
    if busy:
        spinner = context.Process(target=spin, args=(600,))
        spinner.start()
        time.sleep(1.0)
    try:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(function, *args).result()
    finally:
        if spinner is not None:
            spinner.terminate()
            spinner.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for shape in SHAPES:
        for n_jobs in (None, -1):
            for busy in (False, True):
                wall, cpu = measure(time_fit, shape, n_jobs, busy=busy)
                rows.append(dict(what=f"fit {shape[0]} x {shape[1]}", n_jobs=str(n_jobs),
                                 beside="a busy process" if busy else "nothing",
                                 wall=wall, cpu=cpu))
                print(rows[-1], flush=True)
    for n_jobs in (1, 2):
        wall, cpu = measure(time_grid_search, n_jobs)
        rows.append(dict(what="GridSearchCV 300 x 200, k in 2-4, cv=3", n_jobs=str(n_jobs),
                         beside="nothing", wall=wall, cpu=cpu))
        print(rows[-1], flush=True)
    table = ["| what | n_jobs | beside | wall s | CPU s |", "|---|---|---|---|---|"] + [
        f"| {r['what']} | {r['n_jobs']} | {r['beside']} | {r['wall']:.2f} | {r['cpu']:.2f} |"
        for r in rows]
    print(f"\n{os.cpu_count()} cores\n\n" + "\n".join(table))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "threads.json"), "w") as handle:
            json.dump(rows, handle, indent=1)
        with open(os.path.join(args.out, "threads.md"), "w") as handle:
            handle.write("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
