"""Filling the clusters a refinement leaves empty (skcocluster/_refine/repair.py)."""

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from skcocluster._refine.repair import empty_clusters, fill_empty_clusters
from skcocluster._refine.selection import candidates, fills_all_clusters
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score


def planted(likelihood="bernoulli"):
    blocks = np.array([[0.6, 0.1, 0.1], [0.1, 0.6, 0.1], [0.1, 0.1, 0.6], [0.4, 0.4, 0.1]])
    if likelihood == "poisson":
        blocks = 3 * blocks
    X, rows, cols = make_lbm(400, 300, (4, 3), block_params=blocks, likelihood=likelihood,
                             random_state=0)
    return sp.csr_matrix(X), rows, cols


def test_an_empty_cluster_takes_half_of_a_merged_cluster():
    csr, rows, cols = planted()
    merged = np.where(rows == 3, 0, rows)  # clusters 0 and 3 merged, 3 left empty
    resp = np.eye(4)[merged]
    filled, columns = fill_empty_clusters(csr, resp, np.eye(3)[cols], "bernoulli")
    assert empty_clusters(resp).tolist() == [3] and empty_clusters(filled).size == 0
    np.testing.assert_array_equal(columns, np.eye(3)[cols])
    assert adjusted_rand_score(rows, filled.argmax(1)) > 0.95
    np.testing.assert_array_equal(resp, np.eye(4)[merged])  # the input is left alone


def test_a_partition_without_empty_clusters_is_returned_as_is():
    csr, rows, cols = planted()
    resp = np.eye(4)[rows]
    columns = np.eye(3)[cols]
    filled = fill_empty_clusters(csr, resp, columns, "bernoulli")
    assert filled[0] is resp and filled[1] is columns


def test_identical_members_are_not_split():
    csr = sp.csr_matrix(np.ones((6, 4)))
    resp = np.eye(2)[np.zeros(6, dtype=int)]
    filled, _ = fill_empty_clusters(csr, resp, np.eye(2)[[0, 0, 1, 1]], "bernoulli")
    assert empty_clusters(filled).tolist() == [1]


def test_every_refined_candidate_fills_its_clusters_where_the_matrix_allows():
    # Started with two row clusters merged and the fourth empty, the block models' EM
    # cannot create it; the candidates still fill all four.
    csr, rows, cols = planted("poisson")
    start = (np.eye(4)[np.where(rows == 3, 0, rows)], np.eye(3)[cols])
    pool = candidates(csr, "poisson", start)
    assert not fills_all_clusters(pool[0].row_resp)
    for candidate in pool[1:]:
        assert fills_all_clusters(candidate.row_resp), candidate.name
        assert fills_all_clusters(candidate.column_resp), candidate.name
    best = max(adjusted_rand_score(rows, c.row_resp.argmax(1)) for c in pool[1:])
    assert best > 0.9


def test_a_cluster_of_one_shared_profile_is_never_split():
    # The largest row cluster holds only empty rows (one shared profile): the merged one
    # is split instead.
    csr, rows, cols = planted()
    csr = sp.vstack([sp.csr_matrix((500, csr.shape[1])), csr]).tocsr()
    # cluster 0: the empty rows; 1: planted 0 and 3 merged; 2, 3: planted 1, 2; 4: empty
    labels = np.concatenate([np.zeros(500, dtype=int), np.where(rows == 3, 1, rows + 1)])
    resp = np.eye(5)[labels]
    filled, _ = fill_empty_clusters(csr, resp, np.eye(3)[cols], "bernoulli")
    assert empty_clusters(filled).size == 0
    assert (filled[:500].argmax(1) == 0).all()


def test_the_merged_cluster_is_split_rather_than_the_largest():
    # A large homogeneous cluster and two small ones merged: splitting the large one would
    # gain only noise, splitting the merged one recovers the planted partition.
    blocks = np.array([[0.3, 0.1, 0.1], [0.1, 0.4, 0.1], [0.1, 0.1, 0.4], [0.1, 0.4, 0.4]])
    X, rows, cols = make_lbm(600, 300, (4, 3), block_params=blocks,
                             row_proportions=[0.6, 0.2, 0.1, 0.1], random_state=0)
    csr = sp.csr_matrix(X)
    merged = np.where(rows == 3, 2, rows)
    for likelihood in ("bernoulli", "gaussian"):
        filled, _ = fill_empty_clusters(csr, np.eye(4)[merged], np.eye(3)[cols], likelihood)
        assert adjusted_rand_score(rows, filled.argmax(1)) > 0.95, likelihood


def test_the_side_whose_merge_hides_the_other_is_split_first():
    # Rows 2 and 3 differ only in column clusters 2 and 3, which are merged; those columns
    # differ in row clusters 0 and 1. Splitting the columns first lets the rows be split
    # right; splitting the rows first would split noise.
    blocks = np.array([[0.5, 0.1, 0.5, 0.1], [0.1, 0.5, 0.1, 0.5],
                       [0.1, 0.1, 0.5, 0.1], [0.1, 0.1, 0.1, 0.5]])
    X, rows, cols = make_lbm(400, 400, 4, block_params=blocks, random_state=1)
    csr = sp.csr_matrix(X)
    merged_rows, merged_cols = np.where(rows == 3, 2, rows), np.where(cols == 3, 2, cols)
    filled_rows, filled_cols = fill_empty_clusters(csr, np.eye(4)[merged_rows],
                                                   np.eye(4)[merged_cols], "bernoulli")
    assert coclustering_adjusted_rand_score(rows, cols, filled_rows.argmax(1),
                                            filled_cols.argmax(1)) > 0.95
