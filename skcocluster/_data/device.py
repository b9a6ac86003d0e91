"""Device resolution and the conversion of validated scipy matrices into torch tensors.

All host-to-device copies of the data happen here, once per fit, so the training loop
never moves data between host and device.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln
import torch
from sklearn.utils.extmath import randomized_svd

from .cells import CellData
from .training_data import TrainingData
from .validation import EncoderInput

DEVICES = ("auto", "cpu", "cuda")
# Above this density a dense matmul beats a sparse one on both CPU and GPU.
DENSE_DENSITY = 0.05
# ...and the dense operators (A, Abar and their transposes) must stay small enough to hold.
DENSE_MAX_CELLS = 2 ** 24


def resolve_device(device):
    """Return the ``torch.device`` for a ``device`` parameter value.

    Raises
    ------
    ValueError
        When 'cuda' is requested but no CUDA device is available, or the value is unknown.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")):
        raise ValueError(f"device must be one of {DEVICES} (or 'cuda:N'); got {device!r}.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but no CUDA device is available "
            "(torch.cuda.is_available() is False). Use device='cpu' or device='auto'.")
    return torch.device(device)


def to_torch_operator(matrix, device, dense):
    """A scipy CSR matrix (or a dense ndarray) as a float32 torch tensor (dense, or sparse
    CSR)."""
    if isinstance(matrix, np.ndarray):
        return torch.as_tensor(matrix, dtype=torch.float32, device=device)
    if dense:
        return torch.as_tensor(matrix.toarray(), dtype=torch.float32, device=device)
    matrix = sp.csr_matrix(matrix)
    with warnings.catch_warnings():
        # torch flags its CSR support as beta on every construction; we rely only on
        # torch.sparse.mm with a dense right-hand side, which is stable.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.as_tensor(matrix.indptr, dtype=torch.int64),
            torch.as_tensor(matrix.indices, dtype=torch.int64),
            torch.as_tensor(matrix.data, dtype=torch.float32),
            size=matrix.shape, device=device, check_invariants=False)


def layout_is_dense(csr):
    """Whether ``csr`` is better held and multiplied as a dense tensor."""
    n_cells = csr.shape[0] * csr.shape[1]
    return csr.nnz > DENSE_DENSITY * n_cells and n_cells <= DENSE_MAX_CELLS


def cell_data(csr, device, dense):
    """The raw matrix as a :class:`CellData` on ``device`` (dense or sparse CSR layout)."""
    return CellData(
        matrix=to_torch_operator(csr, device, dense),
        matrix_t=to_torch_operator(csr.T.tocsr(), device, dense),
        row_sums=torch.as_tensor(np.asarray(csr.sum(axis=1)).ravel(), dtype=torch.float32,
                                 device=device),
        column_sums=torch.as_tensor(np.asarray(csr.sum(axis=0)).ravel(), dtype=torch.float32,
                                    device=device),
        total=float(csr.sum()),
        squared_total=float(np.square(csr.data).sum()),
        log_factorial_total=float(gammaln(csr.data + 1.0).sum()))


def prepare_training_data(csr, hidden_dim, device, random_state, centre=False):
    """Normalise the matrix, take its leading singular vectors, and move it to ``device``.

    Parameters
    ----------
    csr : scipy.sparse.csr_matrix of shape (M, P)
    hidden_dim : int
        Width of the first layer: ``ceil(hidden_dim / 2)`` singular vectors are taken.
    device : torch.device
    random_state : int
        Seed of the randomised SVD.
    centre : bool, default=False
        Centre and scale the matrix instead of normalising it by its degrees
        (:class:`~skcocluster._data.validation.EncoderInput`; for real values on a dense layout).

    Returns
    -------
    data : TrainingData
    encoder_input : EncoderInput
        The normalisation, which new nodes must go through too.
    """
    n_rows, n_cols = csr.shape
    encoder_input = EncoderInput(csr, centre)
    normalised = encoder_input.training(csr)
    n_cells = n_rows * n_cols
    dense = centre or layout_is_dense(csr)
    n_components = min((hidden_dim + 1) // 2, min(n_rows, n_cols) - 1)
    if n_components >= 1:
        u, _, vt = randomized_svd(normalised, n_components, random_state=random_state)
    else:
        u, vt = np.zeros((n_rows, 0)), np.zeros((0, n_cols))
    data = TrainingData(
        adjacency=to_torch_operator(normalised, device, dense),
        adjacency_t=to_torch_operator(_transpose(normalised), device, dense),
        cells=cell_data(csr, device, dense),
        row_means=np.asarray(csr.sum(axis=1)).ravel() / n_cols,
        column_means=np.asarray(csr.sum(axis=0)).ravel() / n_rows,
        mean_value=float(csr.sum()) / n_cells,
        variance=float(np.square(csr.data).sum()) / n_cells - (float(csr.sum()) / n_cells) ** 2,
        row_singular=u, column_singular=vt.T,
        skip_first_direction=encoder_input.skips_first_direction, csr=csr)
    return data, encoder_input


def _transpose(matrix):
    """The transpose of a dense ndarray (contiguous) or of a sparse matrix (CSR)."""
    if isinstance(matrix, np.ndarray):
        return np.ascontiguousarray(matrix.T)
    return matrix.T.tocsr()
