"""Final partition: block-model refinements of the deep and starting partitions, and the
choice between them (``block_refinement=True``).

Candidates, each a pair of row and column memberships:

- the estimator's own partition, as it is;
- that partition refined by variational EM of the plain latent block model (the model of
  planted block data) and, for non-negative data, of the degree-corrected Poisson block
  model (the model of text-like data, whose row and column totals vary wildly);
- the same two refinements of the restart's starting partition (k-means on the encoders'
  initial positions), which near the detection threshold still carries clusters that the
  deep LBM's own bound merges;
- that starting partition as it is (never empty: a last resort).

A refinement that empties a cluster has it filled by splitting the cluster whose split
gains most (:mod:`.repair`), so that a partition good elsewhere is not lost to one absorbed cluster.

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

from .._likelihoods import as_likelihood
from .._parallel.reducer import IDENTITY
from .block_em import block_noise_variance, refine_block_model, refine_degree_corrected
from .held_out import block_model_is_adequate, held_out_cells, held_out_score
from .repair import empty_clusters, fill_empty_clusters
from .sharding import WHOLE

# The models that give the memberships of new rows or columns: the estimator's own, the
# plain block model and the degree-corrected one.
OWN_MODEL = "own"
BLOCK_MODEL = "block"
DEGREE_CORRECTED_MODEL = "degree_corrected"


@dataclass
class Candidate:
    """One candidate partition.

    Attributes
    ----------
    name : str
        Where it comes from, e.g. 'deep + block EM'.
    row_resp, column_resp : ndarray of shape (M, L) and (P, Q)
    membership_model : {'own', 'block', 'degree_corrected'}
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


def fills_all_clusters(resp, reducer=IDENTITY):
    """Whether every cluster is the most likely one of at least one node (of any process,
    where ``reducer`` sums over the side's processes)."""
    return empty_clusters(resp, reducer).size == 0


def candidates(csr, likelihood, deep, start=None, own_name="deep", sharding=WHOLE):
    """Every candidate partition (see the module docstring).

    Parameters
    ----------
    csr : csr_matrix of shape (M, P)
    likelihood : Likelihood or {'bernoulli', 'poisson', 'gaussian'}
    deep : tuple of ndarray
        The estimator's own row and column memberships.
    start : tuple of ndarray, optional
        The starting partition's memberships.
    own_name : str, default='deep'
        Name of the estimator's own partition in the candidates' names.
    sharding : Sharding, optional
        Where the sums run (a row shard: ``csr`` and the row memberships are this
        process's rows, the column memberships every column's).

    Returns
    -------
    candidates : list of Candidate
    """
    likelihood = as_likelihood(likelihood)

    def filled(rows, columns):
        return fill_empty_clusters(csr, rows, columns, likelihood, sharding=sharding)

    out = [Candidate(own_name, *deep, OWN_MODEL)]
    sources = [(own_name, deep)] + ([("start", start)] if start is not None else [])
    for source, (rows, columns) in sources:
        refined_rows, refined_columns, _ = refine_block_model(
            csr, rows, columns, likelihood=likelihood, sharding=sharding)
        refined_rows, refined_columns = filled(refined_rows, refined_columns)
        noise_var = block_noise_variance(csr, refined_rows, refined_columns, sharding) if (
            likelihood.has_noise_variance) else 1.0
        out.append(Candidate(f"{source} + block EM", refined_rows, refined_columns,
                             BLOCK_MODEL, noise_var))
        if likelihood.non_negative:
            out.append(Candidate(f"{source} + degree-corrected EM", *filled(
                *refine_degree_corrected(csr, rows, columns, sharding=sharding)),
                DEGREE_CORRECTED_MODEL))
    if start is not None:
        out.append(Candidate("start", *start, BLOCK_MODEL,
                             block_noise_variance(csr, *start, sharding)))
    return out


def select(csr, likelihood, pool, own_if_inadequate=True, sharding=WHOLE):
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
        is below its refinements on text; measured: benchmarks/README.md).
    sharding : Sharding, optional
        Where the sums run, as for :func:`candidates`; every score is the whole matrix's,
        so every process makes the same choice.

    Returns
    -------
    chosen : Candidate
    """
    likelihood = as_likelihood(likelihood)
    held_out = held_out_cells(csr, sharding=sharding)

    def fills(candidate):
        """Whether the candidate fills every cluster of each side."""
        return (fills_all_clusters(candidate.row_resp, sharding.rows),
                fills_all_clusters(candidate.column_resp, sharding.columns))

    ranks = [(all(fills(candidate)), held_out_score(
        csr, likelihood, candidate.row_resp.argmax(1), candidate.column_resp.argmax(1),
        held_out, sharding)) for candidate in pool]
    best_index = max(range(len(pool)), key=ranks.__getitem__)
    best, own = pool[best_index], pool[0]
    own_rows, own_columns = fills(own)
    if best is own or not own_if_inadequate or not (own_rows or own_columns) or (
            block_model_is_adequate(
                csr, likelihood, best.row_resp.argmax(1), best.column_resp.argmax(1),
                held_out, block_score=ranks[best_index][1], sharding=sharding)):
        return best
    if own_rows and own_columns:
        return own
    # The own partition of one side leaves a cluster empty: that side comes from the best
    # candidate, the other stays the estimator's own.
    rows, columns = (own, best) if own_rows else (best, own)
    return Candidate(f"{rows.name} (rows), {columns.name} (columns)", rows.row_resp,
                     columns.column_resp, rows.membership_model,
                     block_noise_variance(csr, rows.row_resp, columns.column_resp, sharding),
                     column_membership_model=columns.side_model("column"))
