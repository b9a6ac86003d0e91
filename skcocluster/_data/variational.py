"""The data of VariationalCoclustering on the training device, and its batches.

Both sides are held as CSR tensors: the rows are the vectors of ``A``, the columns those
of ``A^T``. A step reads a batch of rows and a batch of columns (:func:`epoch_batches`),
gathers their sparse vectors (:func:`gather`), the items on which the all-cells sum is
evaluated (:func:`sampled_items`) and a sample of cells (:func:`draw_cells`); see
``docs/model.rst``, "The variational model".
"""

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import randomized_svd

from .._likelihoods import make_likelihood

# Rows or columns encoded at once when computing all memberships without gradients.
CHUNK = 4096
# Cost of a decoder logit taken by gather (a nonzero) relative to one taken by matmul:
# a gather and its scatter-add backward cost far more per logit than a dense product.
GATHER_COST = 16


@dataclass
class SideData:
    """One side's vectors (rows of ``A``, or of ``A^T``) as CSR tensors on the device.

    ``values`` are raw (scored by the likelihood), ``inputs`` normalised (read by the
    encoders: ``sign(a) log1p|a|`` then l2 per vector), ``keys`` the sorted flat positions
    ``i * n_items + j`` of the nonzeros (to reject nonzero cells when drawing zero cells).
    """

    indptr: torch.Tensor
    indices: torch.Tensor
    values: torch.Tensor
    inputs: torch.Tensor
    keys: torch.Tensor
    n_vectors: int
    n_items: int


@dataclass
class VariationalData:
    """The data on the device, prepared once for all restarts."""

    rows: SideData
    columns: SideData
    # The validated matrix on the CPU: the mixture start scores partitions on it.
    csr: sp.csr_matrix
    n_nonzero: int
    total_mass: float
    noise_var: float
    row_spectral: np.ndarray
    column_spectral: np.ndarray
    row_item_eta: np.ndarray
    column_item_eta: np.ndarray
    cell_eta: float


@dataclass
class SparseBatch:
    """A batch of sparse vectors (rows of ``A`` or of ``A^T``) on the training device.

    Attributes
    ----------
    indices : LongTensor of shape (nnz,)
        Position of each stored value within its vector.
    offsets : LongTensor of shape (n,)
        Where each vector starts in ``indices`` (EmbeddingBag convention).
    owner : LongTensor of shape (nnz,)
        Which vector of the batch (0..n-1) each stored value belongs to.
    values : Tensor of shape (nnz,)
        Raw values (what the likelihood scores).
    inputs : Tensor of shape (nnz,)
        Normalised values (what the encoders read: sign * log1p|a|, then l2 per vector).
    size : int
        Number of vectors n.
    """

    indices: torch.Tensor
    offsets: torch.Tensor
    owner: torch.Tensor
    values: torch.Tensor
    inputs: torch.Tensor
    size: int


# ---------------------------------------------------------------------------- preparation
def normalised_inputs(csr):
    """``sign(a) log1p|a|`` then l2 per row: what the encoders read.

    Parameters
    ----------
    csr : scipy.sparse.csr_matrix

    Returns
    -------
    inputs : scipy.sparse.csr_matrix
        A new matrix.
    """
    inputs = csr.copy()
    inputs.data = np.sign(inputs.data) * np.log1p(np.abs(inputs.data))
    return normalize(inputs, norm="l2", copy=False)


def side_data(csr, device):
    """A validated CSR matrix (float64, sorted indices) as :class:`SideData` on ``device``.

    Parameters
    ----------
    csr : scipy.sparse.csr_matrix
    device : torch.device or str

    Returns
    -------
    side : SideData
    """
    inputs = normalised_inputs(csr)
    n_vectors, n_items = csr.shape
    owners = np.repeat(np.arange(n_vectors, dtype=np.int64), np.diff(csr.indptr))
    keys = owners * n_items + csr.indices.astype(np.int64)

    def tensor(array, dtype):
        """``array`` as a contiguous tensor of ``dtype`` on ``device``."""
        return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)

    return SideData(indptr=tensor(csr.indptr, torch.int64),
                    indices=tensor(csr.indices, torch.int64),
                    values=tensor(csr.data, torch.float32),
                    inputs=tensor(inputs.data, torch.float32),
                    keys=tensor(keys, torch.int64), n_vectors=n_vectors, n_items=n_items)


def spectral_directions(csr, n_components, random_state):
    """First-layer weights from the leading singular vectors of the item-normalised inputs.

    The inputs ``x`` (one row per vector, see :func:`normalised_inputs`) are divided per
    item by the square root of the item's total absolute input, ``x D^-1/2``, as spectral
    co-clustering normalises both sides; the weights ``D^-1/2 V`` then map a vector to its
    coordinates on the leading right singular vectors ``V`` of that matrix, scaled so that
    the leading coordinate is of order 1 and the others keep their singular-value ratios
    (so that noise directions stay small). Without the item normalisation, frequent items
    dominate the directions and a Gaussian mixture on the coordinates misses imbalanced
    clusters (measured: benchmarks/README.md).

    Parameters
    ----------
    csr : scipy.sparse.csr_matrix
    n_components : int
        Directions wanted (at most ``min(csr.shape) - 1`` are taken).
    random_state : int
        Seeds the randomised SVD.

    Returns
    -------
    weights : ndarray of shape (n_items, k)
    """
    inputs = normalised_inputs(csr)
    k = min(n_components, min(csr.shape) - 1)
    if k < 1:
        return np.zeros((csr.shape[1], 0))
    item_totals = np.asarray(abs(inputs).sum(axis=0)).ravel()  # signed real values too
    item_scale = 1.0 / np.sqrt(np.maximum(item_totals, 1e-12))
    item_scale[item_totals <= 0] = 0.0  # an empty item carries nothing
    _, singular, vt = randomized_svd(inputs @ sp.diags(item_scale), k, n_iter=4,
                                     random_state=random_state)
    scale = math.sqrt(csr.shape[0]) / max(singular[0], 1e-8)
    return (item_scale[:, None] * vt.T * scale).astype(np.float32)


def prepare_data(csr, config, device, random_state):
    """Move both sides to ``device`` and take the spectral directions (once per fit).

    Parameters
    ----------
    csr : scipy.sparse.csr_matrix
        The validated matrix (float64, sorted indices).
    config : VariationalConfig
    device : torch.device
    random_state : int
        Seeds the spectral directions.

    Returns
    -------
    data : VariationalData
    """
    csr_t = sp.csr_matrix(csr.T)
    csr_t.sort_indices()
    n_cells = csr.shape[0] * csr.shape[1]
    mean = csr.sum() / n_cells
    noise_var = max(float(np.square(csr.data).sum()) / n_cells - mean ** 2, 1e-6)
    # The block structure lives in the leading singular vectors; a few beyond the number
    # of clusters (of every facet) are kept, the rest of the first layer stays random.
    counts = config.facet_counts or [(config.n_row_clusters, config.n_column_clusters)]
    k = min(config.hidden_dim // 2, 2 * sum(max(pair) for pair in counts) + 2)
    spectral = config.init == "spectral"
    likelihood = make_likelihood(config.likelihood, noise_var)
    n_rows, n_cols = csr.shape
    column_means = np.asarray(csr.sum(0)).ravel() / n_rows
    row_means = np.asarray(csr.sum(1)).ravel() / n_cols
    return VariationalData(
        rows=side_data(csr, device), columns=side_data(csr_t, device), csr=csr,
        n_nonzero=csr.nnz,
        total_mass=float(np.abs(csr.data).sum()), noise_var=noise_var,
        row_spectral=spectral_directions(csr, k, random_state) if spectral else None,
        column_spectral=spectral_directions(csr_t, k, random_state) if spectral else None,
        row_item_eta=likelihood.initial_eta(column_means, n_rows).astype(np.float32),
        column_item_eta=likelihood.initial_eta(row_means, n_cols).astype(np.float32),
        cell_eta=float(likelihood.initial_eta(mean, n_cells)))


# ---------------------------------------------------------------------------- batches
def gather(side, ids):
    """The vectors ``ids`` of a side as a :class:`SparseBatch`.

    Parameters
    ----------
    side : SideData
    ids : LongTensor of shape (n,)

    Returns
    -------
    batch : SparseBatch
    """
    starts = side.indptr[ids]
    lengths = side.indptr[ids + 1] - starts
    owner = torch.repeat_interleave(torch.arange(ids.numel(), device=ids.device), lengths)
    offsets = torch.cumsum(lengths, 0) - lengths
    positions = starts[owner] + torch.arange(owner.numel(), device=ids.device) - offsets[owner]
    return SparseBatch(indices=side.indices[positions], offsets=offsets, owner=owner,
                       values=side.values[positions], inputs=side.inputs[positions],
                       size=ids.numel())


def chunk_ids(n_vectors, device):
    """Consecutive ids ``0..n_vectors-1`` in chunks of :data:`CHUNK`.

    Parameters
    ----------
    n_vectors : int
    device : torch.device or str

    Yields
    ------
    ids : LongTensor of shape (at most CHUNK,)
    """
    for start in range(0, n_vectors, CHUNK):
        yield torch.arange(start, min(start + CHUNK, n_vectors), device=device)


def sampled_items(side, n_sampled, batch, generator, device):
    """Items whose all-cells term is evaluated: all of them, or a uniform sample.

    All of them (exact) when there are at most ``n_sampled``, or when the batch is dense
    enough that scoring every item costs no more than scoring the nonzeros and a sample.

    Parameters
    ----------
    side : SideData
    n_sampled : int
    batch : SparseBatch
    generator : torch.Generator
    device : torch.device

    Returns
    -------
    items : LongTensor
        Every item in order, or ``n_sampled`` uniform draws.
    """
    all_cost = batch.size * side.n_items
    sampled_cost = GATHER_COST * batch.owner.numel() + batch.size * n_sampled
    if n_sampled >= side.n_items or all_cost <= sampled_cost:
        return torch.arange(side.n_items, device=device)
    return torch.randint(side.n_items, (n_sampled,), generator=generator, device=device)


def epoch_batches(n_rows, n_cols, batch_size, generator, device, shuffle=True):
    """Pairs (row ids, column ids) covering every row and every column once.

    Parameters
    ----------
    n_rows, n_cols : int
    batch_size : int
        Rows per batch; the columns are split into as many batches.
    generator : torch.Generator
    device : torch.device
    shuffle : bool, default=True
        Random permutations of both sides; in order otherwise.

    Returns
    -------
    batches : list of (LongTensor, LongTensor)
        A column batch may be empty when there are fewer columns than row batches.
    """
    if shuffle:
        rows = torch.randperm(n_rows, generator=generator, device=device)
        cols = torch.randperm(n_cols, generator=generator, device=device)
    else:
        rows = torch.arange(n_rows, device=device)
        cols = torch.arange(n_cols, device=device)
    row_batches = rows.split(batch_size)
    column_size = math.ceil(n_cols / len(row_batches))
    col_batches = list(cols.split(column_size))
    col_batches += [cols[:0]] * (len(row_batches) - len(col_batches))
    return list(zip(row_batches, col_batches))


def draw_cells(ctx, row_ids, row_batch):
    """Cells of the step: nonzeros of the row batch (at most ``cells_per_batch``) and as many
    uniformly drawn zero cells, with the weight that makes each group's sum unbiased for the
    sum over all cells of the batch's rows.

    Parameters
    ----------
    ctx : StepContext
        Its data, generator, device and ``config.cells_per_batch``.
    row_ids : LongTensor of shape (n,)
    row_batch : SparseBatch
        The rows ``row_ids``.

    Returns
    -------
    local_rows, columns : LongTensor of shape (n_cells,)
    values, weights : Tensor of shape (n_cells,)
    """
    gen, device, n_cols = ctx.generator, ctx.device, ctx.data.rows.n_items
    n_nonzero = row_batch.owner.numel()
    keep = torch.arange(n_nonzero, device=device)
    if n_nonzero > ctx.config.cells_per_batch:
        keep = torch.randperm(n_nonzero, generator=gen, device=device)[
            :ctx.config.cells_per_batch]
    n_zero_cells = row_ids.numel() * n_cols - n_nonzero
    n_draw = max(keep.numel(), 1) if n_zero_cells > 0 else 0
    local = torch.randint(row_ids.numel(), (n_draw,), generator=gen, device=device)
    cols = torch.randint(n_cols, (n_draw,), generator=gen, device=device)
    keys = row_ids[local] * n_cols + cols
    found = torch.searchsorted(ctx.data.rows.keys, keys).clamp(max=ctx.data.rows.keys.numel() - 1)
    zero = ctx.data.rows.keys[found] != keys if ctx.data.rows.keys.numel() else torch.ones_like(
        keys, dtype=torch.bool)
    local, cols = local[zero], cols[zero]
    nz_weight = n_nonzero / max(keep.numel(), 1)
    zero_weight = n_zero_cells / max(local.numel(), 1)
    weights = torch.cat([torch.full((keep.numel(),), nz_weight, device=device),
                         torch.full((local.numel(),), zero_weight, device=device)])
    return (torch.cat([row_batch.owner[keep], local]),
            torch.cat([row_batch.indices[keep], cols]),
            torch.cat([row_batch.values[keep], torch.zeros(local.numel(), device=device)]),
            weights)


def sparse_product(side, dense, absolute=True):
    """``|A_side| @ dense`` (``A_side @ dense`` when not ``absolute``) from the CSR tensors.

    Parameters
    ----------
    side : SideData
        ``A`` for the rows, ``A^T`` for the columns.
    dense : Tensor of shape (n_items, K)
    absolute : bool, default=True

    Returns
    -------
    product : Tensor of shape (n_vectors, K)
    """
    owner = torch.repeat_interleave(torch.arange(side.n_vectors, device=dense.device),
                                    side.indptr[1:] - side.indptr[:-1])
    values = side.values.abs() if absolute else side.values
    contrib = values.unsqueeze(1) * dense[side.indices]
    out = torch.zeros(side.n_vectors, dense.shape[1], device=dense.device, dtype=dense.dtype)
    return out.index_add(0, owner, contrib)


# ---------------------------------------------------------------------------- whole sides
def side_memberships(model, side, data_side, device, means_only=False):
    """Posterior means and memberships of every vector of a side, without gradients.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    side : {'row', 'column'}
    data_side : SideData
    device : torch.device
    means_only : bool, default=False
        Skip the memberships.

    Returns
    -------
    means : Tensor of shape (n, D)
    memberships : Tensor of shape (n, n_clusters) or None
    """
    vae = model.side(side)
    means, resps = [], []
    with torch.no_grad():
        for ids in chunk_ids(data_side.n_vectors, device):
            mean, _ = vae.encoder(gather(data_side, ids))
            means.append(mean)
            if not means_only:
                resps.append(vae.prior.responsibilities(mean))
    means = torch.cat(means)
    return means, (None if means_only else torch.cat(resps))


def side_first_layer(vae, data_side, device):
    """First-layer outputs of the encoder for every vector of a side.

    Parameters
    ----------
    vae : SideVAE
    data_side : SideData
    device : torch.device

    Returns
    -------
    first : ndarray of shape (n, hidden_dim)
        In float64.
    """
    with torch.no_grad():
        return torch.cat([vae.encoder.first(gather(data_side, ids))
                          for ids in chunk_ids(data_side.n_vectors, device)]
                         ).cpu().double().numpy()
