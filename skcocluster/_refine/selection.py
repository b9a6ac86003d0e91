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

That criterion, and the refinements, rest on the block model: the cells of a row cluster
and a column cluster are exchangeable. Whether the matrix bears it out is checked on the
same held-out cells: the best candidate's row partition is also scored under a one-sided
model that gives each column its own profile over the row clusters (and its column
partition with each row's own profile over the column clusters). Where either one-sided
model predicts the held-out cells better than the block model, the block model is not
adequate to the matrix (on document x word corpora, words of one cluster differ in their
profiles over the document clusters), its likelihood is no judge of partitions, and the
estimator's own partition, from its richer model, is kept if it fills every cluster. On
planted block data the one-sided models predict worse (their extra parameters only add
estimation noise), and the best candidate is kept. Measured on planted and real data,
``benchmarks/README.md`` ("When the block model is not adequate").
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._likelihoods import EPS, as_likelihood
from .block_em import block_noise_variance, refine_block_model, refine_degree_corrected

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
        Which model gives the memberships of new rows (and of new columns, unless
        ``column_membership_model`` says otherwise).
    noise_var : float
        Block noise variance (Gaussian block model; 1.0 otherwise).
    column_membership_model : str or None
        The model of new columns where it differs from the rows' (a partition whose sides
        come from two candidates).
    """

    name: str
    row_resp: np.ndarray
    column_resp: np.ndarray
    membership_model: str
    noise_var: float = 1.0
    column_membership_model: str = None

    def side_model(self, side):
        """The model that gives the memberships of new rows (side='row') or columns."""
        if side == "column" and self.column_membership_model is not None:
            return self.column_membership_model
        return self.membership_model


def fills_all_clusters(resp):
    """Whether every cluster is the most likely one of at least one node."""
    return np.unique(resp.argmax(1)).size == resp.shape[1]


def candidates(csr, likelihood, deep, start=None, own_name="deep"):
    """Every candidate partition (see the module docstring).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
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
    likelihood = as_likelihood(likelihood)
    out = [Candidate(own_name, *deep, "deep")]
    sources = [(own_name, deep)] + ([("start", start)] if start is not None else [])
    for source, (rows, columns) in sources:
        refined_rows, refined_columns, noise_var = refine_block_model(
            csr, rows, columns, likelihood=likelihood)
        out.append(Candidate(f"{source} + block EM", refined_rows, refined_columns, "block",
                             noise_var))
        if likelihood.non_negative:
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
    likelihood = as_likelihood(likelihood)
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
    scores = [likelihood.mean_log_likelihood(values, block[r, c])]
    if likelihood.non_negative:
        row_totals = np.asarray(csr.sum(axis=1)).ravel() - np.bincount(
            rows, values, minlength=csr.shape[0])
        column_totals = np.asarray(csr.sum(axis=0)).ravel() - np.bincount(
            cols, values, minlength=csr.shape[1])
        omega = sums / np.maximum(np.outer(row_one_hot.T @ row_totals,
                                           column_one_hot.T @ column_totals), EPS)
        expected = row_totals[rows] * column_totals[cols] * omega[r, c]
        scores.append(likelihood.mean_log_likelihood(values, expected))
    return max(scores)


def one_sided_score(csr, likelihood, labels, held_out):
    """Mean log-likelihood of the held-out cells when only the rows are clustered.

    Each row cluster k gets its own expected value for every column j, estimated from the
    other cells of the cluster's rows: the plain model predicts their mean, the
    degree-corrected one (non-negative data) the row's total times the cluster's share of
    column j. Both are smoothed by one pseudo-row of the column's overall mean, so that a
    column unseen in a cluster keeps a finite prediction. Returns the better of the two
    (the plain one only, for Gaussian data). Score the columns with ``csr.T`` and the
    held-out cells' rows and columns swapped.

    Only the held-out cells' (cluster, column) pairs are looked up: no dense
    (n_clusters, n_columns) array is built.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    labels : ndarray of int, shape (M,)
    held_out : tuple of ndarray
        Rows, columns and values of the held-out cells (:func:`held_out_cells`).

    Returns
    -------
    score : float
    """
    likelihood = as_likelihood(likelihood)
    rows, cols, values = held_out
    n_rows, n_cols = csr.shape
    n_clusters = int(labels.max()) + 1
    cluster_of = sp.csr_matrix((np.ones(n_rows), (labels, np.arange(n_rows))),
                               shape=(n_clusters, n_rows))
    cluster_sums = cluster_of @ csr
    held_clusters = labels[rows]
    # Sums and counts of the cluster's other cells in the held-out cells' columns.
    _, pair_index = np.unique(held_clusters.astype(np.int64) * n_cols + cols,
                              return_inverse=True)
    held_sums = np.bincount(pair_index, values)[pair_index]
    held_counts = np.bincount(pair_index)[pair_index]
    sums = _values_at(cluster_sums, held_clusters, cols) - held_sums
    counts = np.bincount(labels, minlength=n_clusters)[held_clusters] - held_counts
    column_sums = np.asarray(csr.sum(axis=0)).ravel() - np.bincount(cols, values,
                                                                      minlength=n_cols)
    column_counts = n_rows - np.bincount(cols, minlength=n_cols)
    column_means = column_sums / np.maximum(column_counts, 1)
    plain = (sums + column_means[cols]) / (counts + 1.0)
    scores = [likelihood.mean_log_likelihood(values, plain)]
    if likelihood.non_negative:
        row_totals = np.asarray(csr.sum(axis=1)).ravel() - np.bincount(
            rows, values, minlength=n_rows)
        cluster_totals = np.bincount(labels, row_totals, minlength=n_clusters)
        pseudo_row = row_totals.mean()
        column_shares = column_sums / max(column_sums.sum(), EPS)
        shares = (sums + pseudo_row * column_shares[cols]) / np.maximum(
            cluster_totals[held_clusters] + pseudo_row, EPS)
        scores.append(likelihood.mean_log_likelihood(values, row_totals[rows] * shares))
    return max(scores)


def _values_at(matrix, rows, cols):
    """``matrix[rows, cols]`` of a sparse matrix, by binary search in its sorted entries.

    scipy's own point indexing scans each row's entries, which takes seconds for a few
    long rows (the clusters' sums) and hundreds of thousands of points.
    """
    matrix = sp.csr_matrix(matrix)
    matrix.sum_duplicates()
    n_cols = np.int64(matrix.shape[1])
    stored_rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64),
                            np.diff(matrix.indptr))
    keys = stored_rows * n_cols + matrix.indices
    wanted = rows.astype(np.int64) * n_cols + cols
    if keys.size == 0:
        return np.zeros(wanted.size)
    where = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    return np.where(keys[where] == wanted, matrix.data[where], 0.0)


def block_model_is_adequate(csr, likelihood, row_labels, column_labels, held_out,
                            block_score=None):
    """Whether the block model of a partition predicts held-out cells at least as well as
    the one-sided models of its rows and of its columns (module docstring).

    ``block_score``, the partition's :func:`held_out_score` on ``held_out``, is computed
    here unless the caller already has it.
    """
    block = block_score
    if block is None:
        block = held_out_score(csr, likelihood, row_labels, column_labels, held_out)
    rows, cols, values = held_out
    csr_t = csr.T.tocsr()
    return (block >= one_sided_score(csr, likelihood, row_labels, held_out)
            and block >= one_sided_score(csr_t, likelihood, column_labels,
                                         (cols, rows, values)))


def select(csr, likelihood, pool, own_if_inadequate=True):
    """The candidate that fills every cluster and predicts held-out cells best, or the
    estimator's own partition (``pool[0]``) where the block model is not adequate to the
    matrix (module docstring).

    Where the block model is not adequate and the own partition leaves a cluster empty on
    one side only, that side comes from the best candidate and the other from the own
    partition; the returned candidate is then named after both.

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    pool : list of Candidate
        The estimator's own partition first (:func:`candidates`).
    own_if_inadequate : bool, default=True
        Whether the own partition is kept where the block model is not adequate; False
        always returns the best candidate (VariationalCoclustering, whose own partition
        was measured below its refinements on text: ``benchmarks/README.md``).

    Returns
    -------
    chosen : Candidate
    """
    likelihood = as_likelihood(likelihood)
    held_out = held_out_cells(csr)

    def filled(candidate):
        return fills_all_clusters(candidate.row_resp) and fills_all_clusters(
            candidate.column_resp)

    ranks = [(filled(candidate), held_out_score(
        csr, likelihood, candidate.row_resp.argmax(1), candidate.column_resp.argmax(1),
        held_out)) for candidate in pool]
    best_index = max(range(len(pool)), key=ranks.__getitem__)
    best, own = pool[best_index], pool[0]
    own_rows, own_columns = (fills_all_clusters(own.row_resp),
                             fills_all_clusters(own.column_resp))
    if best is own or not own_if_inadequate or not (own_rows or own_columns) or (
            block_model_is_adequate(
                csr, likelihood, best.row_resp.argmax(1), best.column_resp.argmax(1),
                held_out, block_score=ranks[best_index][1])):
        return best
    if own_rows and own_columns:
        return own
    # The own partition of one side leaves a cluster empty: that side comes from the best
    # candidate, the other stays the estimator's own.
    rows, columns = (own, best) if own_rows else (best, own)
    return Candidate(f"{rows.name} (rows), {columns.name} (columns)", rows.row_resp,
                     columns.column_resp, rows.membership_model,
                     block_noise_variance(csr, rows.row_resp, columns.column_resp),
                     column_membership_model=columns.side_model("column"))


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
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    row_starts, column_starts : list of StartDraw

    Returns
    -------
    row_start, column_start
        One element of each list.
    """
    likelihood = as_likelihood(likelihood)
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
