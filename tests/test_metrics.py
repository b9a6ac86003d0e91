"""Tests of skcocluster.metrics: CARI against explicit cell labels, accuracy, score dicts."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from skcocluster.metrics import (
    clustering_accuracy,
    clustering_scores,
    coclustering_adjusted_rand_score,
    coclustering_scores,
)


def _cell_labels(row_labels, column_labels):
    """Label of every cell (i, j) as one integer coding the pair (r_i, c_j)."""
    row_labels = np.asarray(row_labels)
    column_labels = np.asarray(column_labels)
    n_column_clusters = column_labels.max() + 1
    return (row_labels[:, None] * n_column_clusters + column_labels[None, :]).ravel()


@pytest.mark.parametrize(
    "seed, n_rows, n_cols, true_clusters, pred_clusters",
    [
        (0, 30, 20, (3, 2), (3, 2)),
        (1, 25, 40, (2, 4), (5, 3)),
        (2, 17, 9, (4, 3), (2, 2)),
        (3, 50, 12, (1, 3), (3, 1)),
        (4, 12, 33, (6, 5), (4, 6)),
    ],
)
def test_cari_equals_ari_on_explicit_cells(seed, n_rows, n_cols, true_clusters, pred_clusters):
    rng = np.random.default_rng(seed)
    row_true = rng.integers(0, true_clusters[0], n_rows)
    column_true = rng.integers(0, true_clusters[1], n_cols)
    # Predictions correlated with the truth, so the index is not trivially ~0.
    row_pred = np.where(rng.random(n_rows) < 0.6, row_true % pred_clusters[0],
                        rng.integers(0, pred_clusters[0], n_rows))
    column_pred = np.where(rng.random(n_cols) < 0.6, column_true % pred_clusters[1],
                           rng.integers(0, pred_clusters[1], n_cols))

    expected = adjusted_rand_score(
        _cell_labels(row_true, column_true), _cell_labels(row_pred, column_pred)
    )
    cari = coclustering_adjusted_rand_score(row_true, column_true, row_pred, column_pred)
    assert cari == pytest.approx(expected, abs=1e-12)


def test_cari_is_one_for_identical_partitions_up_to_relabelling():
    rng = np.random.default_rng(5)
    row_true = rng.integers(0, 4, 80)
    column_true = rng.integers(0, 3, 60)
    row_relabelled = np.array([7, 2, 9, 0])[row_true]
    column_relabelled = np.array(["b", "c", "a"])[column_true]
    assert coclustering_adjusted_rand_score(
        row_true, column_true, row_relabelled, column_relabelled
    ) == 1.0


def test_cari_degenerate_cases_match_sklearn():
    # Both co-clusterings one single block: sklearn's ARI says 1.0.
    assert coclustering_adjusted_rand_score([0] * 5, [0] * 4, [3] * 5, [1] * 4) == 1.0
    # One cell per cluster on both sides, and disagreements against one block.
    for rows_pred, columns_pred in [([0, 1, 2], [0, 1]), ([0, 0, 0], [0, 1])]:
        expected = adjusted_rand_score(
            _cell_labels([0, 0, 0], [0, 0]), _cell_labels(rows_pred, columns_pred)
        )
        cari = coclustering_adjusted_rand_score([0, 0, 0], [0, 0], rows_pred, columns_pred)
        assert cari == pytest.approx(expected, abs=1e-12)


def test_cari_near_zero_for_independent_partitions():
    rng = np.random.default_rng(6)
    n_rows, n_cols = 3000, 2000
    cari = coclustering_adjusted_rand_score(
        rng.integers(0, 4, n_rows), rng.integers(0, 3, n_cols),
        rng.integers(0, 4, n_rows), rng.integers(0, 3, n_cols),
    )
    assert abs(cari) < 0.01


def test_cari_exact_on_huge_matrices():
    # 1e5 x 1e5 = 1e10 cells: pair counts reach ~1e20, beyond int64.
    rng = np.random.default_rng(7)
    n = 100_000
    row_true, column_true = rng.integers(0, 5, n), rng.integers(0, 5, n)
    # Moving 10% of the rows to another cluster gives a clearly intermediate value.
    row_pred = np.where(rng.random(n) < 0.1, (row_true + 1) % 5, row_true)
    cari = coclustering_adjusted_rand_score(row_true, column_true, row_pred, column_true)
    assert np.isfinite(cari) and 0.5 < cari < 0.95
    assert cari == coclustering_adjusted_rand_score(row_pred, column_true, row_true, column_true)
    assert coclustering_adjusted_rand_score(row_true, column_true, row_true, column_true) == 1.0


@pytest.mark.parametrize(
    "args, name",
    [
        (([0, 1, 1], [0, 1], [0, 1], [0, 1]), "row_labels_true"),
        (([0, 1], [0, 1, 0], [0, 1], [0, 1]), "column_labels_true"),
    ],
)
def test_cari_length_mismatch_names_the_side(args, name):
    with pytest.raises(ValueError, match=name):
        coclustering_adjusted_rand_score(*args)


def test_clustering_accuracy_hand_computed():
    labels_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    labels_pred = [1, 1, 0, 0, 0, 2, 2, 2, 1]
    # Best matching: pred 1 -> true 0 (2 items), pred 0 -> true 1 (2), pred 2 -> true 2 (3).
    assert clustering_accuracy(labels_true, labels_pred) == pytest.approx(7 / 9)


def test_clustering_accuracy_rectangular_tables():
    # 2 true clusters, 3 predicted: the unmatched predicted cluster counts as errors.
    assert clustering_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 2, 2, 2]) == pytest.approx(5 / 6)
    # 3 true clusters, 1 predicted: only the largest true cluster can be matched.
    assert clustering_accuracy([0, 1, 1, 2, 2, 2], [4] * 6) == pytest.approx(3 / 6)


def test_clustering_accuracy_errors():
    with pytest.raises(ValueError, match="labels_true and labels_pred"):
        clustering_accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        clustering_accuracy([], [])


def test_clustering_scores_match_sklearn():
    rng = np.random.default_rng(8)
    labels_true = rng.integers(0, 3, 200)
    labels_pred = np.where(rng.random(200) < 0.7, labels_true, rng.integers(0, 3, 200))
    scores = clustering_scores(labels_true, labels_pred)
    assert set(scores) == {"nmi", "ari", "accuracy"}
    assert scores["nmi"] == pytest.approx(normalized_mutual_info_score(labels_true, labels_pred))
    assert scores["ari"] == pytest.approx(adjusted_rand_score(labels_true, labels_pred))
    assert scores["accuracy"] == pytest.approx(clustering_accuracy(labels_true, labels_pred))


def test_coclustering_scores_keys_and_values():
    rng = np.random.default_rng(9)
    row_true, column_true = rng.integers(0, 3, 40), rng.integers(0, 2, 30)
    row_pred, column_pred = rng.integers(0, 3, 40), column_true[::-1].copy()
    scores = coclustering_scores(row_true, column_true, row_pred, column_pred)
    assert set(scores) == {
        "row_nmi", "row_ari", "row_accuracy",
        "column_nmi", "column_ari", "column_accuracy", "cari",
    }
    assert scores["row_ari"] == pytest.approx(adjusted_rand_score(row_true, row_pred))
    assert scores["column_nmi"] == pytest.approx(
        normalized_mutual_info_score(column_true, column_pred)
    )
    assert scores["cari"] == pytest.approx(
        coclustering_adjusted_rand_score(row_true, column_true, row_pred, column_pred)
    )


@pytest.mark.parametrize(
    "args, name",
    [
        (([0, 1, 1], [0, 1], [0, 1], [0, 1]), "row_labels_true and row_labels_pred"),
        (([0, 1], [0, 1], [0, 1], [0]), "column_labels_true and column_labels_pred"),
    ],
)
def test_coclustering_scores_length_mismatch(args, name):
    with pytest.raises(ValueError, match=name):
        coclustering_scores(*args)
