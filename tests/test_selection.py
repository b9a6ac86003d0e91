"""Choice of the final partition among block-model refinements (skcocluster/_selection.py)."""

import numpy as np
import scipy.sparse as sp

from skcocluster._selection import (candidates, fills_all_clusters, held_out_cells,
                                    held_out_score, select)
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score


def noisy(labels, k, rate, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(labels.size) < rate, rng.integers(k, size=labels.size), labels)


def test_held_out_cells_are_distinct_and_carry_their_values():
    X = sp.random(50, 40, density=0.3, random_state=0, format="csr")
    rows, cols, values = held_out_cells(X, n_cells=300)
    assert len(set(zip(rows, cols))) == rows.size
    np.testing.assert_allclose(values, X.toarray()[rows, cols])


def test_held_out_score_prefers_the_true_partition():
    blocks = np.full((3, 3), 0.2) + 0.3 * np.eye(3)
    X, rows, cols = make_lbm(300, 200, 3, block_params=blocks, random_state=0)
    csr = sp.csr_matrix(X)
    held_out = held_out_cells(csr)
    truth = held_out_score(csr, "bernoulli", rows, cols, held_out)
    shuffled = held_out_score(csr, "bernoulli", noisy(rows, 3, 0.5, 1), noisy(cols, 3, 0.5, 2),
                              held_out)
    assert truth > shuffled


def test_selection_keeps_profile_clusters_when_degrees_vary():
    # Heavy-tailed row and column totals: the plain block model's refinement drifts to
    # clusters of degree, the degree-corrected one keeps the profiles; selection must
    # keep the latter.
    blocks = np.array([[2.0, 0.5, 0.5], [0.5, 2.0, 0.5], [0.5, 0.5, 2.0]]) * 0.3
    X, rows, cols = make_lbm(400, 300, 3, block_params=blocks, likelihood="poisson",
                             row_degree_spread=1.0, column_degree_spread=1.0, random_state=0)
    csr = sp.csr_matrix(X)
    start = (np.eye(3)[noisy(rows, 3, 0.3, 0)], np.eye(3)[noisy(cols, 3, 0.3, 1)])
    chosen = select(csr, "poisson", candidates(csr, "poisson", start))
    cari = coclustering_adjusted_rand_score(rows, cols, chosen.row_resp.argmax(1),
                                            chosen.column_resp.argmax(1))
    assert chosen.membership_model == "degree_corrected" and cari >= 0.9


def test_selection_prefers_a_candidate_that_fills_every_cluster():
    blocks = np.full((3, 3), 0.2) + 0.3 * np.eye(3)
    X, rows, cols = make_lbm(300, 200, 3, block_params=blocks, random_state=0)
    csr = sp.csr_matrix(X)
    collapsed = (np.tile([1.0, 0.0, 0.0], (300, 1)), np.tile([1.0, 0.0, 0.0], (200, 1)))
    start = (np.eye(3)[noisy(rows, 3, 0.3, 0)], np.eye(3)[noisy(cols, 3, 0.3, 1)])
    pool = candidates(csr, "bernoulli", collapsed, start)
    chosen = select(csr, "bernoulli", pool)
    assert not fills_all_clusters(collapsed[0])
    assert chosen.name.startswith("start") and fills_all_clusters(chosen.row_resp)
