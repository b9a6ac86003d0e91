"""The headline planted cases: Bernoulli block matrices of graded difficulty and one matrix
drawn from the deep model's own latent-position model.

These are the cases of the user guide's planted table, which ``run_benchmarks.py --part
simulated`` measures (the "headline" cases, 1500 x 1000 by default, with the block model's
ceiling: its EM started at the true partition); ``partitions.py`` and ``settling.py`` fit them
too. Each case is plain data (``CASES``), so that a spawned benchmark child can rebuild the
matrix from its name.
"""

import numpy as np

from skcocluster.datasets import make_latent_position_blocks, make_lbm

HEADLINE_SHAPE = (1500, 1000)
BACKGROUND = 0.2


def _diagonal(k, lift):
    """k x k block probabilities: ``BACKGROUND``, plus ``lift`` on the diagonal."""
    return (np.full((k, k), BACKGROUND) + lift * np.eye(k)).tolist()


# name -> (n_clusters, generator, keyword arguments of the generator)
CASES = {f"diagonal 4x4, +{lift}": (4, "lbm", dict(block_params=_diagonal(4, lift)))
         for lift in (0.15, 0.08, 0.05, 0.04)}
CASES["checkerboard 5x3"] = ((5, 3), "lbm", dict(
    block_params=np.random.default_rng(12).uniform(0.1, 0.35, size=(5, 3)).tolist()))
CASES["imbalanced 4x4, +0.08"] = (4, "lbm", dict(
    block_params=_diagonal(4, 0.08), row_proportions=[0.5, 0.25, 0.15, 0.1],
    column_proportions=[0.4, 0.3, 0.2, 0.1]))
CASES["latent positions 3x3"] = (3, "latent", {})


def generate(name, n_rows, n_cols, seed):
    """``(X, row_labels, column_labels)`` of the case ``name`` drawn with ``seed``."""
    n_clusters, generator, kwargs = CASES[name]
    if generator == "latent":
        return make_latent_position_blocks(n_rows, n_cols, n_clusters, random_state=seed,
                                           **kwargs)
    return make_lbm(n_rows, n_cols, n_clusters, random_state=seed, **kwargs)


def cases(n_rows, n_cols):
    """``(name, n_clusters, generate(seed))`` for every case, at the given shape."""
    return [(name, n_clusters,
             lambda seed, name=name: generate(name, n_rows, n_cols, seed))
            for name, (n_clusters, _, _) in CASES.items()]
