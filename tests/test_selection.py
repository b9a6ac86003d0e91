"""Choice of the final partition among block-model refinements (skcocluster/_refine/)."""

import numpy as np
import scipy.sparse as sp

import pytest

import skcocluster._refine.stage as refinement
from skcocluster._refine.block_em import degree_corrected_parameters
from skcocluster._refine.partition import FittedPartition
from skcocluster._refine.stage import RefinementStage
from skcocluster._refine.held_out import (_values_at, block_model_is_adequate, held_out_cells,
                                          held_out_score, one_sided_score)
from skcocluster._refine.selection import (OWN_MODEL, Candidate, candidates, fills_all_clusters,
                                          select)
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


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_values_at_reads_cells_of_any_sparse_layout(fmt):
    rng = np.random.default_rng(0)
    dense = sp.random(30, 40, density=0.3, random_state=0).toarray()
    # Duplicate entries of a COO matrix add up, as in scipy.
    doubled = sp.coo_matrix((np.r_[dense[dense != 0], 1.0], (
        np.r_[np.nonzero(dense)[0], 0], np.r_[np.nonzero(dense)[1], 0])), shape=dense.shape)
    expected = dense.copy()
    expected[0, 0] += 1.0
    rows, cols = rng.integers(30, size=400), rng.integers(40, size=400)
    np.testing.assert_allclose(_values_at(doubled.asformat(fmt), rows, cols),
                               expected[rows, cols])
    np.testing.assert_array_equal(_values_at(sp.csr_matrix((30, 40)), rows, cols), 0.0)


def profile_matrix(seed=0):
    """Poisson counts, 3 row clusters x 6 column groups, where merging the groups into
    column clusters {0, 1, 2} and {3, 4, 5} leaves every row cluster with the same block
    means: the 3 x 2 block model cannot see the rows, the columns' own profiles can."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(3), 60)
    groups = np.repeat(np.arange(6), 40)
    rates = np.full((3, 6), 0.2)
    for k in range(3):
        rates[k, [k, k + 3]] = 1.5
    X = rng.poisson(rates[rows][:, groups])
    return sp.csr_matrix(X.astype(float)), rows, groups, (groups >= 3).astype(int)


def test_one_sided_score_prefers_the_true_rows():
    csr, rows, groups, _ = profile_matrix()
    held_out = held_out_cells(csr)
    truth = one_sided_score(csr, "poisson", rows, held_out)
    assert truth > one_sided_score(csr, "poisson", noisy(rows, 3, 0.5, 1), held_out)
    # Columns are scored on the transposed matrix with the cells' coordinates swapped.
    swapped = (held_out[1], held_out[0], held_out[2])
    csr_t = csr.T.tocsr()
    assert one_sided_score(csr_t, "poisson", groups, swapped) > one_sided_score(
        csr_t, "poisson", noisy(groups, 6, 0.5, 2), swapped)


@pytest.mark.parametrize("likelihood", ["bernoulli", "poisson", "gaussian"])
def test_block_model_is_adequate_on_planted_blocks(likelihood):
    params = {"bernoulli": np.full((3, 3), 0.2) + 0.3 * np.eye(3),
              "poisson": np.full((3, 3), 0.5) + np.eye(3),
              "gaussian": np.eye(3)}[likelihood]
    X, rows, cols = make_lbm(300, 200, 3, block_params=params, likelihood=likelihood,
                             random_state=0)
    csr = sp.csr_matrix(X)
    assert block_model_is_adequate(csr, likelihood, rows, cols, held_out_cells(csr))


def test_block_model_is_not_adequate_when_columns_of_a_cluster_differ():
    csr, rows, groups, merged = profile_matrix()
    held_out = held_out_cells(csr)
    assert not block_model_is_adequate(csr, "poisson", rows, merged, held_out)
    assert block_model_is_adequate(csr, "poisson", rows, groups, held_out)


def one_hot(labels, k):
    return np.eye(k)[labels]


def test_selection_keeps_the_own_partition_where_the_block_model_is_not_adequate():
    csr, rows, groups, merged = profile_matrix()
    own = Candidate("deep", one_hot(rows, 3), one_hot(merged, 2), OWN_MODEL)
    # Columns {0, 3} against the rest: the block model now tells row cluster 0 from the
    # others, so it predicts better than with the own columns, even with noisier rows.
    first_apart = np.isin(groups, [0, 3]).astype(int)
    other_rows = noisy(rows, 3, 0.2, 4)
    other = Candidate("other", one_hot(other_rows, 3), one_hot(first_apart, 2), "block")
    held_out = held_out_cells(csr)
    assert held_out_score(csr, "poisson", other_rows, first_apart, held_out) > (
        held_out_score(csr, "poisson", rows, merged, held_out))
    assert not block_model_is_adequate(csr, "poisson", other_rows, first_apart, held_out)
    assert select(csr, "poisson", [own, other]) is own
    # VariationalCoclustering's choice: the best candidate whatever the adequacy.
    assert select(csr, "poisson", [own, other], own_if_inadequate=False) is other
    # On planted blocks the best-predicting candidate is kept over the own partition.
    blocks = np.full((3, 3), 0.5) + np.eye(3)
    X, planted_rows, planted_cols = make_lbm(300, 200, 3, block_params=blocks,
                                             likelihood="poisson", random_state=0)
    planted = sp.csr_matrix(X)
    own = Candidate("deep", one_hot(noisy(planted_rows, 3, 0.4, 0), 3),
                    one_hot(planted_cols, 3), OWN_MODEL)
    truth = Candidate("truth", one_hot(planted_rows, 3), one_hot(planted_cols, 3), "block")
    assert select(planted, "poisson", [own, truth]) is truth


def test_selection_takes_one_side_from_the_best_candidate_where_the_own_leaves_it_empty():
    csr, rows, _, merged = profile_matrix()
    collapsed_columns = np.zeros((csr.shape[1], 2))
    collapsed_columns[:, 0] = 1.0
    own = Candidate("deep", one_hot(rows, 3), collapsed_columns, OWN_MODEL)
    other = Candidate("other", one_hot(noisy(rows, 3, 0.6, 3), 3), one_hot(merged, 2),
                      "degree_corrected")
    chosen = select(csr, "poisson", [own, other])
    np.testing.assert_array_equal(chosen.row_resp, own.row_resp)
    np.testing.assert_array_equal(chosen.column_resp, other.column_resp)
    assert chosen.name == "deep (rows), other (columns)"
    assert (chosen.side_model("row"), chosen.side_model("column")) == (
        OWN_MODEL, "degree_corrected")


def test_new_nodes_of_each_side_follow_the_model_of_that_side(monkeypatch):
    blocks = np.full((3, 3), 0.5) + np.eye(3)
    X, rows, cols = make_lbm(300, 200, 3, block_params=blocks, likelihood="poisson",
                             random_state=0)
    csr = sp.csr_matrix(X)
    mixed = Candidate("deep (rows), other (columns)", one_hot(rows, 3), one_hot(cols, 3),
                      OWN_MODEL, column_membership_model="degree_corrected")
    monkeypatch.setattr(refinement, "select", lambda *args: mixed)
    stage = RefinementStage(own_name="deep", keep_own_if_inadequate=True)
    partition = stage.fit(csr, (one_hot(rows, 3), one_hot(cols, 3)), None, "poisson")
    assert partition.refined_from == mixed.name
    # Rows: the estimator's own model (None hands them to its encoders).
    assert partition.new_memberships(csr, "row") is None
    # Columns: the degree-corrected block model of the kept partition.
    new_columns = partition.new_memberships(csr.T.tocsr(), "column")
    assert new_columns.shape == (csr.shape[1], 3)
    assert np.mean(new_columns.argmax(1) == cols) >= 0.9


def test_stage_passes_its_policy_to_the_choice(monkeypatch):
    seen = {}

    def record(csr, likelihood, pool, keep_own_if_inadequate, sharding=None):
        seen["names"] = [candidate.name for candidate in pool]
        seen["keep_own"] = keep_own_if_inadequate
        return pool[0]

    monkeypatch.setattr(refinement, "select", record)
    csr, rows, _, merged = profile_matrix()
    own = (one_hot(rows, 3), one_hot(merged, 2))
    partition = RefinementStage(own_name="variational", keep_own_if_inadequate=False).fit(
        csr, own, None, "poisson")
    assert seen == {"names": ["variational", "variational + block EM",
                              "variational + degree-corrected EM"], "keep_own": False}
    assert partition.refined_from == "variational"
    assert (partition.row_model, partition.column_model) == (OWN_MODEL, OWN_MODEL)
    assert partition.degree_model is None


def test_reported_partition_follows_the_pairing_of_the_column_clusters():
    blocks = np.full((3, 3), 0.5) + np.eye(3)
    X, rows, cols = make_lbm(300, 200, 3, block_params=blocks, likelihood="poisson",
                             random_state=0)
    csr = sp.csr_matrix(X)
    row_resp, column_resp = one_hot(rows, 3), one_hot(cols, 3)
    order = np.array([2, 0, 1])
    block = (row_resp.T @ (csr @ column_resp)) / np.outer(row_resp.sum(0), column_resp.sum(0))
    degree_model = degree_corrected_parameters(csr, row_resp, column_resp)
    for model in ("block", "degree_corrected"):
        fitted = FittedPartition(row_resp, column_resp, "x", model, model, "poisson",
                                 degree_model=degree_model)
        plain = fitted.reported(block)
        paired = fitted.reported(block[:, order], order)
        np.testing.assert_array_equal(paired.column_resp, column_resp[:, order])
        # New rows get the same memberships; new columns the reordered clusters.
        np.testing.assert_allclose(paired.new_memberships(csr, "row"),
                                   plain.new_memberships(csr, "row"))
        np.testing.assert_allclose(paired.new_memberships(csr.T.tocsr(), "column"),
                                   plain.new_memberships(csr.T.tocsr(), "column")[:, order])
