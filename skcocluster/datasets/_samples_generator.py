"""Generators of matrices with a planted co-clustering.

Two models are provided:

- :func:`make_lbm`, the latent block model (LBM): each cell is drawn
  independently given the pair (row cluster, column cluster), with Bernoulli,
  Poisson or Gaussian cells and optional degree heterogeneity. It writes
  sparse output block by block and never builds a dense matrix.
- :func:`make_latent_position_blocks`, the generative model of the deep latent
  block model: clustered latent positions of rows and columns, and links
  between close positions.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from scipy.special import expit
from sklearn.utils import check_random_state

from .._likelihoods import NAMES as _LIKELIHOODS, make_likelihood

__all__ = ["make_lbm", "make_latent_position_blocks"]



# --------------------------------------------------------------------------
# Parameter validation
# --------------------------------------------------------------------------


def _is_int(value):
    """Whether ``value`` is an integer (numpy integers included, bools excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_positive_int(value, name):
    """Return ``value`` as an int, or raise ValueError naming ``name``.

    Parameters
    ----------
    value : object
        Candidate value.
    name : str
        Parameter name used in the error message.

    Returns
    -------
    value : int
        The validated value, at least 1.
    """
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_non_negative_float(value, name):
    """Return ``value`` as a finite float >= 0, or raise ValueError naming ``name``.

    Parameters
    ----------
    value : object
        Candidate value.
    name : str
        Parameter name used in the error message.

    Returns
    -------
    value : float
    """
    if not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}.")
    return float(value)


def _check_n_clusters(n_clusters):
    """Number of row and of column clusters from an int or a pair.

    Parameters
    ----------
    n_clusters : int or tuple of (int, int)
        ``k`` for k row and k column clusters, or ``(n_row_clusters,
        n_column_clusters)``.

    Returns
    -------
    n_row_clusters, n_column_clusters : int
    """
    if _is_int(n_clusters):
        n_row_clusters = n_column_clusters = n_clusters
    else:
        try:
            n_row_clusters, n_column_clusters = n_clusters
        except (TypeError, ValueError):
            raise ValueError(
                f"n_clusters must be an int or a pair of ints, got {n_clusters!r}."
            ) from None
    if not all(_is_int(k) and k >= 1 for k in (n_row_clusters, n_column_clusters)):
        raise ValueError(
            f"n_clusters must hold positive integers, got {n_clusters!r}."
        )
    return int(n_row_clusters), int(n_column_clusters)


def _check_proportions(proportions, n_clusters, name):
    """Validate cluster proportions, or return uniform ones when None.

    Parameters
    ----------
    proportions : array-like of shape (n_clusters,) or None
        Non-negative proportions that sum to 1.
    n_clusters : int
        Expected length.
    name : str
        Parameter name used in error messages.

    Returns
    -------
    proportions : ndarray of shape (n_clusters,)
        Float64 proportions, renormalised to sum exactly to 1.
    """
    if proportions is None:
        return np.full(n_clusters, 1.0 / n_clusters)
    proportions = np.asarray(proportions, dtype=np.float64)
    if proportions.shape != (n_clusters,):
        raise ValueError(
            f"{name} must have shape ({n_clusters},) to match n_clusters, "
            f"got shape {proportions.shape}."
        )
    if not np.all(np.isfinite(proportions)) or np.any(proportions < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {proportions}.")
    if not np.isclose(proportions.sum(), 1.0, rtol=0.0, atol=1e-8):
        raise ValueError(f"{name} must sum to 1, got a sum of {proportions.sum()!r}.")
    return proportions / proportions.sum()


def _check_block_params(block_params, shape, likelihood):
    """Validate the block parameters against the cluster numbers and the likelihood.

    Parameters
    ----------
    block_params : array-like of shape (n_row_clusters, n_column_clusters)
        Probabilities (Bernoulli), rates (Poisson) or means (Gaussian).
    shape : tuple of (int, int)
        ``(n_row_clusters, n_column_clusters)``.
    likelihood : {"bernoulli", "poisson", "gaussian"}

    Returns
    -------
    block_params : ndarray of shape (n_row_clusters, n_column_clusters)
        Float64 copy.
    """
    block_params = np.array(block_params, dtype=np.float64)
    if block_params.shape != shape:
        raise ValueError(
            f"block_params must have shape {shape} (row clusters, column clusters) "
            f"to match n_clusters, got shape {block_params.shape}."
        )
    if not np.all(np.isfinite(block_params)):
        raise ValueError("block_params must be finite.")
    make_likelihood(likelihood).check_block_params(block_params)
    return block_params


def _random_block_params(shape, likelihood, rng):
    """Draw block parameters at random (see :func:`make_lbm` for the laws).

    Parameters
    ----------
    shape : tuple of (int, int)
        ``(n_row_clusters, n_column_clusters)``.
    likelihood : {"bernoulli", "poisson", "gaussian"}
    rng : numpy.random.RandomState

    Returns
    -------
    block_params : ndarray of shape (n_row_clusters, n_column_clusters)
    """
    return make_likelihood(likelihood).random_block_params(shape, rng)


# --------------------------------------------------------------------------
# Latent variables
# --------------------------------------------------------------------------


def _draw_labels(n_items, proportions, shuffle, rng, name):
    """Draw cluster labels in which every cluster of positive proportion occurs.

    Each cluster of positive proportion first gets one item; the remaining
    ``n_items - n_nonempty`` items are allocated by a multinomial draw with
    ``proportions``. This is the Categorical law conditioned to leave no
    cluster empty only approximately, but it never loops and the difference
    vanishes as ``n_items`` grows.

    Parameters
    ----------
    n_items : int
        Number of rows (or columns).
    proportions : ndarray of shape (n_clusters,)
        Cluster proportions summing to 1.
    shuffle : bool
        If False, the labels are sorted; if True, in a random order.
    rng : numpy.random.RandomState
    name : str
        Name of the size parameter (``"n_rows"`` or ``"n_cols"``) for errors.

    Returns
    -------
    labels : ndarray of shape (n_items,), dtype int64
    """
    nonempty = proportions > 0
    n_nonempty = int(nonempty.sum())
    if n_items < n_nonempty:
        raise ValueError(
            f"{name}={n_items} is smaller than the number of clusters with a "
            f"positive proportion ({n_nonempty}); every such cluster needs an item."
        )
    counts = nonempty.astype(np.int64) + rng.multinomial(n_items - n_nonempty, proportions)
    labels = np.repeat(np.arange(proportions.shape[0], dtype=np.int64), counts)
    if shuffle:
        rng.shuffle(labels)
    return labels


def _degree_factors(n_items, spread, rng):
    """Log-normal degree factors normalised to mean 1, or None without spread.

    Parameters
    ----------
    n_items : int
        Number of rows (or columns).
    spread : float
        Standard deviation of the log factors; 0 means no heterogeneity.
    rng : numpy.random.RandomState

    Returns
    -------
    factors : ndarray of shape (n_items,) or None
    """
    if spread == 0:
        return None
    factors = rng.lognormal(mean=0.0, sigma=spread, size=n_items)
    return factors / factors.mean()


# --------------------------------------------------------------------------
# Dense cells
# --------------------------------------------------------------------------


def _cell_params(block_params, row_labels, column_labels, row_factors, column_factors):
    """Per-cell parameter: the block parameter times the degree factors.

    Parameters
    ----------
    block_params : ndarray of shape (n_row_clusters, n_column_clusters)
    row_labels : ndarray of shape (n_rows,)
    column_labels : ndarray of shape (n_cols,)
    row_factors : ndarray of shape (n_rows,) or None
    column_factors : ndarray of shape (n_cols,) or None

    Returns
    -------
    cell_params : ndarray of shape (n_rows, n_cols)
    """
    cell_params = block_params[np.ix_(row_labels, column_labels)]
    if row_factors is not None:
        cell_params *= row_factors[:, None]
    if column_factors is not None:
        cell_params *= column_factors[None, :]
    return cell_params


def _dense_cells(cell_params, likelihood, noise_std, rng):
    """Draw every cell of a dense matrix given its parameter.

    Parameters
    ----------
    cell_params : ndarray of shape (n_rows, n_cols)
        Probabilities (clipped to 1 here), rates or means.
    likelihood : {"bernoulli", "poisson", "gaussian"}
    noise_std : float
        Gaussian noise standard deviation (Gaussian likelihood only).
    rng : numpy.random.RandomState

    Returns
    -------
    X : ndarray of shape (n_rows, n_cols), dtype float64
    """
    return make_likelihood(likelihood).sample_cells(cell_params, rng, noise_std)


# --------------------------------------------------------------------------
# Sparse cells, block by block (all coordinates local to the block)
# --------------------------------------------------------------------------

# Degree-corrected Bernoulli cells are drawn by thinning Poisson candidates
# whose rate is _CANDIDATE_RATE_FACTOR times the cell probability. That works
# for cell probabilities x with x <= 1 - exp(-2 x), i.e. x below 0.797; cells
# above _HEAVY_PROBABILITY are few and are enumerated instead.
_CANDIDATE_RATE_FACTOR = 2.0
_HEAVY_PROBABILITY = 0.75


def _bernoulli_positions(n_cells, probability, rng):
    """Flat indices of the successes among ``n_cells`` iid Bernoulli trials.

    Exact, in time and memory proportional to the number of successes: the
    gaps between successive successes are iid geometric.

    Parameters
    ----------
    n_cells : int
        Number of trials.
    probability : float
        Success probability in [0, 1].
    rng : numpy.random.RandomState

    Returns
    -------
    positions : ndarray of shape (n_successes,), dtype int64
        Sorted indices in ``[0, n_cells)``.
    """
    if probability == 0 or n_cells == 0:
        return np.empty(0, dtype=np.int64)
    expected = n_cells * probability
    # A margin of 5 standard deviations makes a second draw rare.
    chunk_size = int(expected + 5.0 * np.sqrt(expected) + 16)
    chunks = []
    last_position = -1
    while True:
        positions = last_position + np.cumsum(rng.geometric(probability, size=chunk_size))
        if positions[-1] >= n_cells:
            chunks.append(positions[positions < n_cells])
            return np.concatenate(chunks)
        chunks.append(positions)
        last_position = positions[-1]


def _bernoulli_block(row_weights, column_weights, probability, rng):
    """Ones of a Bernoulli block without degree factors (exact).

    Parameters
    ----------
    row_weights : ndarray of shape (n_block_rows,)
        All ones; only its length is used.
    column_weights : ndarray of shape (n_block_cols,)
        All ones; only its length is used.
    probability : float
        Block probability.
    rng : numpy.random.RandomState

    Returns
    -------
    rows, cols : ndarray of shape (n_ones,)
        Block-local coordinates of the ones.
    """
    n_block_cols = column_weights.shape[0]
    positions = _bernoulli_positions(row_weights.shape[0] * n_block_cols, probability, rng)
    return np.divmod(positions, n_block_cols)


def _weighted_indices(weights, size, rng):
    """``size`` iid indices drawn with probability proportional to ``weights``, in order.

    A multinomial count per index followed by a repeat: O(size + n) instead of
    a search per draw. The result is sorted, so pair it with a shuffled array.

    Parameters
    ----------
    weights : ndarray of shape (n,)
        Non-negative weights with a positive sum.
    size : int
        Number of draws.
    rng : numpy.random.RandomState

    Returns
    -------
    indices : ndarray of shape (size,), sorted
    """
    counts = rng.multinomial(size, weights / weights.sum())
    return np.repeat(np.arange(weights.shape[0]), counts)


def _poisson_block(row_weights, column_weights, rate, rng):
    """Unit counts of a Poisson block with cell rates ``rate * w_i * v_j`` (exact).

    Independent Poisson cells with factorised rates are drawn as one Poisson
    total with rate ``rate * sum(w) * sum(v)``, each unit independently in row
    ``i`` with probability proportional to ``w_i`` and in column ``j``
    proportional to ``v_j``. Summing repeated coordinates gives the counts.

    Parameters
    ----------
    row_weights : ndarray of shape (n_block_rows,)
        Row degree factors (ones without heterogeneity).
    column_weights : ndarray of shape (n_block_cols,)
        Column degree factors.
    rate : float
        Block rate.
    rng : numpy.random.RandomState

    Returns
    -------
    rows, cols : ndarray of shape (n_units,)
        Block-local coordinates, one entry per unit count.
    """
    n_units = rng.poisson(rate * row_weights.sum() * column_weights.sum())
    rows = _weighted_indices(row_weights, n_units, rng)
    cols = rng.permutation(_weighted_indices(column_weights, n_units, rng))
    return rows, cols


def _cells_above(row_weights, column_weights, threshold):
    """All cells with ``row_weights[i] * column_weights[j] > threshold``.

    Parameters
    ----------
    row_weights : ndarray of shape (n_block_rows,)
    column_weights : ndarray of shape (n_block_cols,)
    threshold : float

    Returns
    -------
    rows, cols : ndarray of shape (n_cells_above,)
        Block-local coordinates.
    """
    column_order = np.argsort(column_weights)
    sorted_weights = column_weights[column_order]
    n_block_cols = column_weights.shape[0]
    # Row i pairs with the columns of weight > threshold / w_i: a tail of the sort.
    counts = n_block_cols - np.searchsorted(sorted_weights, threshold / row_weights,
                                            side="right")
    rows = np.repeat(np.arange(row_weights.shape[0]), counts)
    rank_in_row = np.arange(rows.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = column_order[np.repeat(n_block_cols - counts, counts) + rank_in_row]
    return rows, cols


def _distinct_sorted(values):
    """Sorted distinct values (``np.unique`` without its slower hashing path).

    Parameters
    ----------
    values : ndarray of shape (n_values,)
        Integers; modified in place (sorted).

    Returns
    -------
    distinct : ndarray of shape (n_distinct,)
    """
    values.sort()
    is_first = np.ones(values.shape[0], dtype=bool)
    is_first[1:] = values[1:] != values[:-1]
    return values[is_first]


def _degree_bernoulli_block(row_weights, column_weights, probability, rng):
    """Ones of a Bernoulli block with cell probabilities ``min(1, p * w_i * v_j)`` (exact).

    Cells of probability above ``_HEAVY_PROBABILITY`` are enumerated and drawn
    one by one. The others are candidates of a Poisson block with rates
    ``_CANDIDATE_RATE_FACTOR * p * w_i * v_j``: a cell is a candidate with
    probability ``1 - exp(-2 x)`` (``x`` its probability), which is ``>= x``
    in this range, so keeping it with probability ``x / (1 - exp(-2 x))``
    makes it a one with probability exactly ``x``, independently of the
    others. The work is about twice the number of ones.

    Parameters
    ----------
    row_weights : ndarray of shape (n_block_rows,)
        Row degree factors.
    column_weights : ndarray of shape (n_block_cols,)
        Column degree factors.
    probability : float
        Block probability ``p``.
    rng : numpy.random.RandomState

    Returns
    -------
    rows, cols : ndarray of shape (n_ones,)
        Block-local coordinates of the ones.
    """
    if probability == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    # Enumerate a slight superset, then split heavy/light with the one expression
    # used for the candidates below, so that rounding cannot put a cell in both.
    heavy_rows, heavy_cols = _cells_above(row_weights, column_weights,
                                          (1 - 1e-9) * _HEAVY_PROBABILITY / probability)
    heavy_probabilities = probability * row_weights[heavy_rows] * column_weights[heavy_cols]
    is_heavy = heavy_probabilities > _HEAVY_PROBABILITY
    heavy_rows, heavy_cols = heavy_rows[is_heavy], heavy_cols[is_heavy]
    heavy_kept = rng.random_sample(heavy_rows.shape[0]) < heavy_probabilities[is_heavy]

    n_block_cols = column_weights.shape[0]
    candidate_rows, candidate_cols = _poisson_block(
        row_weights, column_weights, _CANDIDATE_RATE_FACTOR * probability, rng
    )
    candidate_cells = _distinct_sorted(candidate_rows * n_block_cols + candidate_cols)
    light_rows, light_cols = np.divmod(candidate_cells, n_block_cols)
    light_probabilities = probability * row_weights[light_rows] * column_weights[light_cols]
    is_light = light_probabilities <= _HEAVY_PROBABILITY
    candidate_probabilities = -np.expm1(-_CANDIDATE_RATE_FACTOR * light_probabilities[is_light])
    light_kept = rng.random_sample(candidate_probabilities.shape[0]) < (
        light_probabilities[is_light] / candidate_probabilities
    )
    rows = np.concatenate([heavy_rows[heavy_kept], light_rows[is_light][light_kept]])
    cols = np.concatenate([heavy_cols[heavy_kept], light_cols[is_light][light_kept]])
    return rows, cols


def _sparse_cells(block_params, row_labels, column_labels, likelihood, row_factors,
                  column_factors, rng):
    """Draw a sparse Bernoulli or Poisson matrix block by block.

    Parameters
    ----------
    block_params : ndarray of shape (n_row_clusters, n_column_clusters)
    row_labels : ndarray of shape (n_rows,)
    column_labels : ndarray of shape (n_cols,)
    likelihood : {"bernoulli", "poisson"}
    row_factors : ndarray of shape (n_rows,) or None
    column_factors : ndarray of shape (n_cols,) or None
    rng : numpy.random.RandomState

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_rows, n_cols), dtype float64
    """
    if not make_likelihood(likelihood).binary:
        draw_block = _poisson_block
    elif row_factors is None and column_factors is None:
        draw_block = _bernoulli_block
    else:
        draw_block = _degree_bernoulli_block
    n_rows, n_cols = row_labels.shape[0], column_labels.shape[0]
    row_factors = np.ones(n_rows) if row_factors is None else row_factors
    column_factors = np.ones(n_cols) if column_factors is None else column_factors

    row_coords, col_coords = [], []
    for row_cluster, column_cluster in np.ndindex(*block_params.shape):
        row_members = np.flatnonzero(row_labels == row_cluster)
        column_members = np.flatnonzero(column_labels == column_cluster)
        if row_members.shape[0] == 0 or column_members.shape[0] == 0:
            continue  # a cluster of zero proportion has no cells to draw
        rows, cols = draw_block(
            row_factors[row_members],
            column_factors[column_members],
            block_params[row_cluster, column_cluster],
            rng,
        )
        row_coords.append(row_members[rows])
        col_coords.append(column_members[cols])
    rows = np.concatenate(row_coords, dtype=np.int64)
    cols = np.concatenate(col_coords, dtype=np.int64)
    # Repeated Poisson units are summed into counts here.
    X = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(n_rows, n_cols))
    X.sum_duplicates()
    return X


# --------------------------------------------------------------------------
# Public generators
# --------------------------------------------------------------------------


def _check_lbm_options(likelihood, noise_std, row_degree_spread, column_degree_spread, sparse):
    """Validate the options of :func:`make_lbm` that do not depend on the clusters.

    Parameters
    ----------
    likelihood, noise_std, row_degree_spread, column_degree_spread, sparse
        See :func:`make_lbm`.

    Returns
    -------
    noise_std, row_degree_spread, column_degree_spread : float
    """
    if likelihood not in _LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {_LIKELIHOODS}, got {likelihood!r}.")
    noise_std = _check_non_negative_float(noise_std, "noise_std")
    row_degree_spread = _check_non_negative_float(row_degree_spread, "row_degree_spread")
    column_degree_spread = _check_non_negative_float(column_degree_spread, "column_degree_spread")
    if make_likelihood(likelihood).real_valued:
        if sparse:
            raise ValueError(
                "sparse=True is not available for likelihood='gaussian': Gaussian cells "
                "are almost surely non-zero, the matrix would be dense."
            )
        if row_degree_spread > 0 or column_degree_spread > 0:
            raise ValueError(
                "row_degree_spread and column_degree_spread must be 0 for "
                "likelihood='gaussian' (degree factors scale rates and probabilities)."
            )
    return noise_std, row_degree_spread, column_degree_spread


def make_lbm(
    n_rows=1000,
    n_cols=800,
    n_clusters=3,
    *,
    block_params=None,
    row_proportions=None,
    column_proportions=None,
    likelihood="bernoulli",
    noise_std=1.0,
    row_degree_spread=0.0,
    column_degree_spread=0.0,
    shuffle=True,
    sparse=False,
    random_state=None,
):
    """Generate a matrix from a latent block model (LBM).

    Row ``i`` gets a cluster ``r_i`` and column ``j`` a cluster ``c_j``; then
    each cell ``X[i, j]`` is drawn independently given the parameter
    ``block_params[r_i, c_j]`` of its block, optionally scaled by row and
    column degree factors.

    Parameters
    ----------
    n_rows : int, default=1000
        Number of rows.
    n_cols : int, default=800
        Number of columns.
    n_clusters : int or tuple of (int, int), default=3
        ``k`` for k row clusters and k column clusters, or
        ``(n_row_clusters, n_column_clusters)``.
    block_params : array-like of shape (n_row_clusters, n_column_clusters), default=None
        Parameter of each block: a probability in [0, 1] (Bernoulli), a rate
        >= 0 (Poisson) or a mean (Gaussian). If None, drawn with
        ``random_state``: Uniform(0.05, 0.6) probabilities, Gamma(shape=2,
        scale=0.5) rates (mean 1, variance 0.5), or standard normal means.
    row_proportions : array-like of shape (n_row_clusters,), default=None
        Proportions of the row clusters (non-negative, summing to 1). None
        means uniform.
    column_proportions : array-like of shape (n_column_clusters,), default=None
        Proportions of the column clusters. None means uniform.
    likelihood : {"bernoulli", "poisson", "gaussian"}, default="bernoulli"
        Law of a cell given its block: 0/1 values, non-negative integer
        counts, or ``block mean + noise_std * N(0, 1)``.
    noise_std : float, default=1.0
        Standard deviation of the Gaussian noise. Used only when
        ``likelihood="gaussian"``.
    row_degree_spread : float, default=0.0
        If positive, row ``i`` gets a degree factor
        ``theta_i ~ LogNormal(0, row_degree_spread)``, normalised so the
        factors have mean 1. Poisson rates become
        ``theta_i * phi_j * block_rate`` and Bernoulli probabilities
        ``min(1, theta_i * phi_j * p)`` (clipped at 1, so the realised mean
        density can fall a little below the block probability). Must be 0 for
        the Gaussian likelihood.
    column_degree_spread : float, default=0.0
        The same for the column factors ``phi_j``.
    shuffle : bool, default=True
        If False, rows and columns come sorted by cluster label (the blocks
        are contiguous). If True, they come in a random order. Cells are
        drawn independently given the labels, so this changes the layout
        only, not the law of the matrix.
    sparse : bool, default=False
        If True, return a :class:`scipy.sparse.csr_matrix`, generated block
        by block without building a dense matrix (fit for, e.g., 200000 x
        50000 at density 0.002). Not available for the Gaussian likelihood.
        Sparse and dense draws with the same ``random_state`` differ, but
        follow the same law: every sparse path is exact. Without degree
        factors, the ones of a Bernoulli block are found by geometric gaps;
        with them, by thinning Poisson candidates (cells of probability above
        0.75 are enumerated); Poisson blocks are a Poisson total spread over
        the cells. Time and memory grow with the number of non-zeros (about
        twice it for degree-corrected Bernoulli blocks), not with the size.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for every random draw, for reproducible output.

    Returns
    -------
    X : ndarray or scipy.sparse.csr_matrix of shape (n_rows, n_cols)
        The matrix, float64.
    row_labels : ndarray of shape (n_rows,), dtype int64
        Row cluster of each row.
    column_labels : ndarray of shape (n_cols,), dtype int64
        Column cluster of each column.

    Raises
    ------
    ValueError
        If a parameter is invalid: sizes or cluster numbers not positive
        integers, ``block_params`` of the wrong shape or outside the range of
        the likelihood, proportions of the wrong length, negative or not
        summing to 1, fewer rows (columns) than clusters of positive
        proportion, negative noise or spreads, ``sparse=True`` or degree
        spreads with the Gaussian likelihood.

    Notes
    -----
    Every cluster with a positive proportion is non-empty: it first receives
    one row (column), and the remaining rows (columns) are allocated with a
    multinomial draw of the proportions.

    Examples
    --------
    >>> from skcocluster.datasets import make_lbm
    >>> X, rows, cols = make_lbm(60, 40, (3, 2), random_state=0)
    >>> X.shape, rows.shape, cols.shape
    ((60, 40), (60,), (40,))
    """
    n_rows = _check_positive_int(n_rows, "n_rows")
    n_cols = _check_positive_int(n_cols, "n_cols")
    shape = _check_n_clusters(n_clusters)
    noise_std, row_degree_spread, column_degree_spread = _check_lbm_options(
        likelihood, noise_std, row_degree_spread, column_degree_spread, sparse
    )
    row_proportions = _check_proportions(row_proportions, shape[0], "row_proportions")
    column_proportions = _check_proportions(column_proportions, shape[1], "column_proportions")
    rng = check_random_state(random_state)
    if block_params is None:
        block_params = _random_block_params(shape, likelihood, rng)
    else:
        block_params = _check_block_params(block_params, shape, likelihood)

    row_labels = _draw_labels(n_rows, row_proportions, shuffle, rng, "n_rows")
    column_labels = _draw_labels(n_cols, column_proportions, shuffle, rng, "n_cols")
    row_factors = _degree_factors(n_rows, row_degree_spread, rng)
    column_factors = _degree_factors(n_cols, column_degree_spread, rng)

    if sparse:
        X = _sparse_cells(
            block_params, row_labels, column_labels, likelihood, row_factors, column_factors, rng
        )
    else:
        cell_params = _cell_params(
            block_params, row_labels, column_labels, row_factors, column_factors
        )
        X = _dense_cells(cell_params, likelihood, noise_std, rng)
    return X, row_labels, column_labels


def _cluster_positions(labels, cluster_means, within_std, rng):
    """Latent positions scattered around the mean of their cluster.

    Parameters
    ----------
    labels : ndarray of shape (n_items,)
        Cluster of each row (or column).
    cluster_means : ndarray of shape (n_clusters, latent_dim)
    within_std : float
        Isotropic standard deviation around the cluster mean.
    rng : numpy.random.RandomState

    Returns
    -------
    positions : ndarray of shape (n_items, latent_dim)
    """
    noise = rng.standard_normal((labels.shape[0], cluster_means.shape[1]))
    return cluster_means[labels] + within_std * noise


def _squared_distances(row_positions, column_positions):
    """Squared Euclidean distances between every row and every column position.

    Parameters
    ----------
    row_positions : ndarray of shape (n_rows, latent_dim)
    column_positions : ndarray of shape (n_cols, latent_dim)

    Returns
    -------
    distances : ndarray of shape (n_rows, n_cols)
    """
    return cdist(row_positions, column_positions, metric="sqeuclidean")


def make_latent_position_blocks(
    n_rows=500,
    n_cols=400,
    n_clusters=3,
    *,
    latent_dim=2,
    cluster_spread=3.0,
    within_std=0.5,
    alpha=1.0,
    random_state=None,
):
    """Generate a binary matrix from the deep latent block model's generative model.

    Rows and columns have clustered latent positions in ``R^latent_dim`` and
    a cell is more likely 1 the closer its row and column positions are:

    - ``r_i`` and ``c_j`` uniform over the row and column clusters (every
      cluster non-empty);
    - row cluster means ``mu_l`` and column cluster means ``m_q`` iid
      ``N(0, cluster_spread**2 / latent_dim * I)``, so a mean has expected
      squared norm ``cluster_spread**2`` whatever the dimension, and two
      means are ``sqrt(2) * cluster_spread`` apart on average (in quadratic
      mean);
    - ``X_i ~ N(mu_{r_i}, within_std**2 I)`` and ``Y_j ~ N(m_{c_j}, within_std**2 I)``;
    - ``A_ij ~ Bernoulli(sigmoid(alpha - ||X_i - Y_j||**2))``.

    With the defaults, most row-column cluster pairs are far apart and the
    matrix is sparse, with empty rows and columns: blocks whose means happen
    to be close are dense.

    Parameters
    ----------
    n_rows : int, default=500
        Number of rows.
    n_cols : int, default=400
        Number of columns.
    n_clusters : int or tuple of (int, int), default=3
        ``k`` for k row and k column clusters, or
        ``(n_row_clusters, n_column_clusters)``.
    latent_dim : int, default=2
        Dimension of the latent space.
    cluster_spread : float, default=3.0
        Scale of the cluster means (see above).
    within_std : float, default=0.5
        Standard deviation of a position around its cluster mean.
    alpha : float, default=1.0
        Intercept of the link logit: the log-odds of a link at distance 0.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_rows, n_cols)
        Dense float64 matrix of 0 and 1. Rows and columns come in random order.
    row_labels : ndarray of shape (n_rows,), dtype int64
        Row cluster of each row.
    column_labels : ndarray of shape (n_cols,), dtype int64
        Column cluster of each column.

    Raises
    ------
    ValueError
        If a size, ``n_clusters`` or ``latent_dim`` is not a positive integer,
        if there are fewer rows (columns) than clusters, if
        ``cluster_spread`` or ``within_std`` is negative, or ``alpha`` is not
        finite.

    Examples
    --------
    >>> from skcocluster.datasets import make_latent_position_blocks
    >>> X, rows, cols = make_latent_position_blocks(50, 30, 2, random_state=0)
    >>> X.shape
    (50, 30)
    """
    n_rows = _check_positive_int(n_rows, "n_rows")
    n_cols = _check_positive_int(n_cols, "n_cols")
    n_row_clusters, n_column_clusters = _check_n_clusters(n_clusters)
    latent_dim = _check_positive_int(latent_dim, "latent_dim")
    cluster_spread = _check_non_negative_float(cluster_spread, "cluster_spread")
    within_std = _check_non_negative_float(within_std, "within_std")
    if not isinstance(alpha, numbers.Real) or not np.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}.")
    rng = check_random_state(random_state)

    row_labels = _draw_labels(
        n_rows, np.full(n_row_clusters, 1.0 / n_row_clusters), True, rng, "n_rows"
    )
    column_labels = _draw_labels(
        n_cols, np.full(n_column_clusters, 1.0 / n_column_clusters), True, rng, "n_cols"
    )
    mean_std = cluster_spread / np.sqrt(latent_dim)
    row_means = mean_std * rng.standard_normal((n_row_clusters, latent_dim))
    column_means = mean_std * rng.standard_normal((n_column_clusters, latent_dim))
    row_positions = _cluster_positions(row_labels, row_means, within_std, rng)
    column_positions = _cluster_positions(column_labels, column_means, within_std, rng)

    link_probabilities = expit(alpha - _squared_distances(row_positions, column_positions))
    X = (rng.random_sample(link_probabilities.shape) < link_probabilities).astype(np.float64)
    return X, row_labels, column_labels
