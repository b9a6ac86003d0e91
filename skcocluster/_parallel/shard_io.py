"""Reading one process's rows of a matrix file without reading the whole matrix.

``.npz`` files written by ``scipy.sparse.save_npz`` from a CSR matrix are read member by
member: the row pointers whole (M + 1 integers), then only this shard's stretch of the
column indices and values, streamed through (decompressed, not kept) up to it. Matrix
Market ``.mtx`` files (coordinate format) are read in chunks of lines, keeping this
shard's entries.
"""

import itertools
import zipfile

import numpy as np
import scipy.sparse as sp

# Array items of a .npz member read per chunk.
CHUNK = 1 << 22
# Lines of a Matrix Market file parsed at a time.
MTX_LINES = 1 << 18


def row_bounds(n_rows, rank, world_size):
    """The rows ``[start, stop)`` of process ``rank`` of ``world_size`` (contiguous, even).

    Parameters
    ----------
    n_rows, rank, world_size : int

    Returns
    -------
    start, stop : int
    """
    return n_rows * rank // world_size, n_rows * (rank + 1) // world_size


def _member_header(archive, name):
    """An open ``.npy`` member positioned after its header, and its dtype and shape."""
    member = archive.open(name + ".npy")
    version = np.lib.format.read_magic(member)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(member)
    if fortran and len(shape) > 1:
        raise ValueError(f"{name!r} of the .npz file is stored in Fortran order.")
    return member, dtype, shape


def _small_member(archive, name):
    """A small member (the format, the shape) of an ``.npz`` archive, read whole."""
    with archive.open(name + ".npy") as member:
        return np.lib.format.read_array(member)


def _read_member(archive, name, start=0, stop=None):
    """Items ``[start, stop)`` of a one-dimensional ``.npy`` member, read by streaming."""
    member, dtype, shape = _member_header(archive, name)
    stop = shape[0] if stop is None else stop
    with member:
        skip = start * dtype.itemsize
        while skip > 0:
            skip -= len(member.read(min(skip, CHUNK * dtype.itemsize)))
        data = member.read((stop - start) * dtype.itemsize)
    return np.frombuffer(data, dtype=dtype).copy()


def read_npz_rows(path, start, stop):
    """Rows ``[start, stop)`` of a CSR matrix saved by ``scipy.sparse.save_npz``.

    Parameters
    ----------
    path : str
    start, stop : int

    Returns
    -------
    csr : csr_matrix of shape (stop - start, n_columns)
    shape : tuple of int
        The whole matrix's.
    """
    with zipfile.ZipFile(path) as archive:
        fmt = _small_member(archive, "format").item()
        fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
        if fmt != "csr":
            raise ValueError(f"{path!r} holds a {fmt!r} matrix; the row shards are read from "
                             "a CSR matrix: save it with save_npz(path, X.tocsr()).")
        shape = tuple(int(n) for n in _small_member(archive, "shape"))
        if not 0 <= start <= stop <= shape[0]:
            raise ValueError(f"rows [{start}, {stop}) are outside the {shape[0]} rows of "
                             f"{path!r}.")
        indptr = _read_member(archive, "indptr", start, stop + 1).astype(np.int64)
        first, last = int(indptr[0]), int(indptr[-1])
        indices = _read_member(archive, "indices", first, last)
        data = _read_member(archive, "data", first, last)
    return sp.csr_matrix((data, indices, indptr - first), shape=(stop - start, shape[1])), shape


def read_mtx_rows(path, start, stop):
    """Rows ``[start, stop)`` of a Matrix Market coordinate file (1-based indices).

    Parameters
    ----------
    path : str
    start, stop : int

    Returns
    -------
    csr : csr_matrix of shape (stop - start, n_columns)
    shape : tuple of int
        The whole matrix's.
    """
    with open(path) as handle:
        banner = handle.readline().lower().split()
        if len(banner) < 4 or banner[2] != "coordinate" or banner[-1] != "general":
            raise ValueError(f"{path!r} is not a general Matrix Market coordinate file.")
        line = handle.readline()
        while line.startswith("%"):
            line = handle.readline()
        n_rows, n_cols, _ = (int(n) for n in line.split())
        pattern = banner[3] == "pattern"
        parts = []
        # numpy alone (pandas is no dependency of the package), a block of lines at a time
        for lines in iter(lambda: list(itertools.islice(handle, MTX_LINES)), []):
            chunk = np.loadtxt(lines, comments="%", ndmin=2, dtype=np.float64)
            if chunk.size == 0:
                continue
            rows = chunk[:, 0].astype(np.int64) - 1
            keep = (rows >= start) & (rows < stop)
            values = np.ones(keep.sum()) if pattern else chunk[keep, 2]
            parts.append((rows[keep] - start, chunk[keep, 1].astype(np.int64) - 1, values))
    rows, cols, values = (np.concatenate(column) for column in zip(*parts))
    csr = sp.csr_matrix((values, (rows, cols)), shape=(stop - start, n_cols))
    csr.sum_duplicates()
    return csr, (n_rows, n_cols)


def read_rows(path, start, stop):
    """Rows ``[start, stop)`` of a ``.npz`` (CSR, ``save_npz``) or ``.mtx`` file.

    Parameters
    ----------
    path : str
    start, stop : int

    Returns
    -------
    csr : csr_matrix
    shape : tuple of int
        The whole matrix's.
    """
    if str(path).endswith(".npz"):
        return read_npz_rows(path, start, stop)
    if str(path).endswith(".mtx"):
        return read_mtx_rows(path, start, stop)
    raise ValueError(f"{path!r}: row shards are read from .npz (scipy.sparse.save_npz) or "
                     ".mtx (Matrix Market) files.")


def matrix_shape(path):
    """The shape of the matrix of a ``.npz`` or ``.mtx`` file, read from its header.

    Parameters
    ----------
    path : str

    Returns
    -------
    shape : tuple of int
    """
    return read_rows(path, 0, 0)[1]
