"""Final partition: block-model refinements of the deep and starting partitions, and the
choice between them (``block_refinement=True``).

Candidates, each a pair of row and column memberships:

- the deep model's partition, as it is;
- that partition refined by variational EM of the plain latent block model (the model of
  planted block data; model.md, finding 6) and, for non-negative data, of the
  degree-corrected Poisson block model (the model of text-like data, whose row and column
  totals vary wildly; finding 9);
- the same two refinements of the restart's starting partition (k-means on the encoders'
  initial positions), which near the detection threshold still carries clusters that the
  deep model's own bound merges;
- that starting partition as it is (never empty: a last resort).

They are compared on one criterion: first, whether they fill every cluster asked for;
then how well the partition predicts cells held out from the estimation of its block
parameters (a fixed random sample of cells), under the plain block model or, for
non-negative data, the degree-corrected one, whichever predicts better. Bounds of the two
block models cannot be compared with each other (the degree-corrected one has a free
parameter per row and column, and each prefers its own refinement); held-out prediction
can, and it rewards clusters of profile over clusters of degree only where degrees vary.
Measured on planted and real data, ``benchmarks/README.md``.
"""

from dataclasses import dataclass

import numpy as np

from ._lbm_em import EPS, block_noise_variance, refine_block_model, refine_degree_corrected

# Cells held out to score the candidates, and the seed that draws them (fixed, so that
# the score is a deterministic function of the partition).
N_HELD_OUT_CELLS = 200_000
HELD_OUT_SEED = 0


@dataclass
class Candidate:
    """One candidate partition.

    Attributes
    ----------
    name : str
        Where it comes from, e.g. 'deep + block EM'.
    row_resp, column_resp : ndarray of shape (M, L) and (P, Q)
    membership_model : {'deep', 'block', 'degree_corrected'}
        Which model gives the memberships of new rows and columns.
    noise_var : float
        Block noise variance (Gaussian block model; 1.0 otherwise).
    """

    name: str
    row_resp: np.ndarray
    column_resp: np.ndarray
    membership_model: str
    noise_var: float = 1.0


def fills_all_clusters(resp):
    """Whether every cluster is the most likely one of at least one node."""
    return np.unique(resp.argmax(1)).size == resp.shape[1]


def candidates(csr, likelihood, deep, start=None, own_name="deep"):
    """Every candidate partition (see the module docstring).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : {'bernoulli', 'poisson', 'gaussian'}
    deep : tuple of ndarray
        The deep model's row and column memberships.
    start : tuple of ndarray, optional
        The starting partition's memberships.
    own_name : str, default='deep'
        Name of the deep model's partition in the candidates' names.

    Returns
    -------
    candidates : list of Candidate
    """
    out = [Candidate(own_name, *deep, "deep")]
    sources = [(own_name, deep)] + ([("start", start)] if start is not None else [])
    for source, (rows, columns) in sources:
        refined_rows, refined_columns, noise_var = refine_block_model(
            csr, rows, columns, likelihood=likelihood)
        out.append(Candidate(f"{source} + block EM", refined_rows, refined_columns, "block",
                             noise_var))
        if likelihood != "gaussian":
            out.append(Candidate(f"{source} + degree-corrected EM",
                                 *refine_degree_corrected(csr, rows, columns),
                                 "degree_corrected"))
    if start is not None:
        out.append(Candidate("start", *start, "block", block_noise_variance(csr, *start)))
    return out


def held_out_cells(csr, n_cells=N_HELD_OUT_CELLS, seed=HELD_OUT_SEED):
    """A fixed random set of distinct cells and their values.

    Returns
    -------
    rows, cols : ndarray of int
    values : ndarray of float
    """
    n_rows, n_cols = csr.shape
    total = n_rows * n_cols
    rng = np.random.default_rng(seed)
    flat = np.unique(rng.integers(total, size=min(n_cells, max(total // 5, 1))))
    rows, cols = np.divmod(flat, n_cols)
    values = np.asarray(csr[rows, cols]).ravel()
    return rows, cols, values


def held_out_score(csr, likelihood, row_labels, column_labels, held_out):
    """Mean log-likelihood of the held-out cells under the block models of a partition.

    Block parameters (and, for the degree-corrected model, row and column totals) are
    estimated from the other cells. Returns the better of the plain and degree-corrected
    block models (the plain one only, for Gaussian data).
    """
    rows, cols, values = held_out
    n_row_clusters, n_column_clusters = row_labels.max() + 1, column_labels.max() + 1
    row_one_hot = np.eye(n_row_clusters)[row_labels]
    column_one_hot = np.eye(n_column_clusters)[column_labels]
    r, c = row_labels[rows], column_labels[cols]
    block_shape = (n_row_clusters, n_column_clusters)
    held_sums = np.zeros(block_shape)
    np.add.at(held_sums, (r, c), values)
    held_counts = np.zeros(block_shape)
    np.add.at(held_counts, (r, c), 1.0)
    sums = row_one_hot.T @ (csr @ column_one_hot) - held_sums
    counts = np.outer(row_one_hot.sum(0), column_one_hot.sum(0)) - held_counts
    block = sums / np.maximum(counts, EPS)
    scores = [_cell_log_likelihood(likelihood, values, block[r, c], sums, counts, held_out)]
    if likelihood != "gaussian":
        row_totals = np.asarray(csr.sum(axis=1)).ravel() - np.bincount(
            rows, values, minlength=csr.shape[0])
        column_totals = np.asarray(csr.sum(axis=0)).ravel() - np.bincount(
            cols, values, minlength=csr.shape[1])
        omega = sums / np.maximum(np.outer(row_one_hot.T @ row_totals,
                                           column_one_hot.T @ column_totals), EPS)
        expected = row_totals[rows] * column_totals[cols] * omega[r, c]
        scores.append(_cell_log_likelihood(likelihood, values, expected, sums, counts,
                                           held_out))
    return max(scores)


def _cell_log_likelihood(likelihood, values, expected, sums, counts, held_out):
    if likelihood == "bernoulli":
        p = np.clip(expected, EPS, 1 - EPS)
        return float(np.mean(values * np.log(p) + (1 - values) * np.log1p(-p)))
    if likelihood == "poisson":
        rate = np.maximum(expected, EPS)
        return float(np.mean(values * np.log(rate) - rate))
    residual = np.mean(np.square(values - expected))
    return float(-0.5 * np.log(2 * np.pi * max(residual, EPS)) - 0.5)


def select(csr, likelihood, pool):
    """The candidate that fills every cluster and predicts held-out cells best."""
    held_out = held_out_cells(csr)

    def rank(candidate):
        row_labels = candidate.row_resp.argmax(1)
        column_labels = candidate.column_resp.argmax(1)
        filled = fills_all_clusters(candidate.row_resp) and fills_all_clusters(
            candidate.column_resp)
        return filled, held_out_score(csr, likelihood, row_labels, column_labels, held_out)

    return max(pool, key=rank)


@dataclass
class StartDraw:
    """One clustering of one side's initial positions, a candidate start.

    Attributes
    ----------
    labels : ndarray of int, shape (n,)
    n_clusters : int
        Clusters asked for (a draw that leaves one empty ranks last).
    bound : float
        The draw's own criterion, higher is better (minus the k-means inertia, the
        mixture's lower bound): it only picks the first column draw.
    """

    labels: np.ndarray
    n_clusters: int
    bound: float


# Rounds of the alternating choice of a starting pair: the rows given the columns, then
# the columns given the rows.
START_CHOICE_ROUNDS = 2


def choose_start_pair(csr, likelihood, row_starts, column_starts):
    """The row and column starts whose partitions best predict held-out cells.

    Both estimators start from clusterings of their initial positions (k-means draws for
    the deep LBM, Gaussian mixtures for VariationalCoclustering). Several draws are made
    per side; their own criteria (inertia, mixture bound) can prefer a balanced cut of
    imbalanced clusters, while the block model's held-out likelihood, the criterion of
    :func:`select`, prefers the planted partition whenever a draw lands near it
    (``benchmarks/README.md``, "What changed the start").

    Starts from the column draw of best own criterion, then alternates: the best rows
    given the columns, the best columns given the rows (``START_CHOICE_ROUNDS`` times).
    Draws that fill every cluster come first.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : {'bernoulli', 'poisson', 'gaussian'}
    row_starts, column_starts : list of StartDraw

    Returns
    -------
    row_start, column_start
        One element of each list.
    """
    if len(row_starts) == 1 and len(column_starts) == 1:
        return row_starts[0], column_starts[0]
    held_out = held_out_cells(csr)

    def filled(start):
        return np.unique(start.labels).size == start.n_clusters

    def rank(row_start, column_start):
        return (filled(row_start) and filled(column_start),
                held_out_score(csr, likelihood, row_start.labels, column_start.labels,
                               held_out))

    column_start = max(column_starts, key=lambda start: (filled(start), start.bound))
    for _ in range(START_CHOICE_ROUNDS):
        row_start = max(row_starts, key=lambda start: rank(start, column_start))
        column_start = max(column_starts, key=lambda start: rank(row_start, start))
    return row_start, column_start
