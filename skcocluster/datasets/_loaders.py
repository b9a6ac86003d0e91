"""Loaders for co-clustering matrices stored in local files, and the bundled CSTR corpus.

Every loader returns a :class:`sklearn.utils.Bunch` with the same fields:

- ``data``: the matrix as a :class:`scipy.sparse.csr_matrix` of float64, whatever
  the storage in the file (call ``.toarray()`` for a dense array). Empty rows
  and columns are kept.
- ``row_labels`` and ``column_labels``: int64 arrays relabelled to
  ``0 .. k-1`` in the sorted order of the stored values (so 1-based labels
  ``1 .. k`` become ``0 .. k-1``), or None.
- ``feature_names``: list of str (one per column), or None.
- ``DESCR``: a description of the data.

Nothing is ever downloaded.
"""

import os
from importlib import resources

import numpy as np
import scipy.io
import scipy.sparse as sp
from sklearn.utils import Bunch

__all__ = ["load_matlab", "load_matrix_market", "load_npz", "load_cstr"]

# Keys of an archive written by scipy.sparse.save_npz.
_SPARSE_NPZ_KEYS = frozenset({"format", "shape"})


# --------------------------------------------------------------------------
# Conversions shared by the loaders
# --------------------------------------------------------------------------


def _to_csr(matrix, source):
    """Convert a dense or sparse 2-D matrix to CSR float64.

    Parameters
    ----------
    matrix : ndarray or scipy sparse matrix of shape (n_rows, n_cols)
        Numeric matrix.
    source : str
        Where the matrix comes from, for error messages.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_rows, n_cols), dtype float64
    """
    if not sp.issparse(matrix):
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise ValueError(
                f"The matrix in {source} must be 2-D, got an array of shape {matrix.shape}."
            )
        if matrix.dtype.kind not in "biuf":
            raise ValueError(
                f"The matrix in {source} must be numeric, got dtype {matrix.dtype}."
            )
    X = sp.csr_matrix(matrix, dtype=np.float64)
    X.sum_duplicates()
    return X


def _strings(raw):
    """Strings from a MATLAB cell array, a char matrix or a plain array.

    Parameters
    ----------
    raw : ndarray
        As returned by :func:`scipy.io.loadmat` or :func:`numpy.load`: an
        object array (cell array) of 1-element string arrays, an array of
        strings, or a numeric array.

    Returns
    -------
    strings : list of str
        One string per element, trailing padding blanks removed.
    """
    strings = []
    for element in np.asarray(raw).ravel():
        if isinstance(element, np.ndarray):
            # A cell holds its string as a (1,) array, or an empty array for ''.
            element = element.ravel()[0] if element.size else ""
        strings.append(str(element).rstrip())
    return strings


def _relabel(raw_labels, n_items, name, source):
    """Labels as int64 codes ``0 .. k-1`` (sorted order of the stored values).

    Parameters
    ----------
    raw_labels : array-like
        Stored labels; any shape with ``n_items`` elements, e.g. (n, 1) or
        (1, n) MATLAB vectors, numbers or strings.
    n_items : int
        Number of rows (or columns) of the matrix.
    name : str
        Which labels, for error messages (e.g. ``"row_labels"``).
    source : str
        Where the labels come from, for error messages.

    Returns
    -------
    labels : ndarray of shape (n_items,), dtype int64
    """
    labels = np.asarray(raw_labels)
    if labels.dtype == object:
        labels = np.asarray(_strings(labels))
    labels = labels.ravel()
    if labels.shape[0] != n_items:
        raise ValueError(
            f"{name} from {source} has {labels.shape[0]} entries but the matrix has "
            f"{n_items}; they must match."
        )
    _, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64).ravel()


def _feature_names(raw_names, n_cols, source):
    """Column names as a list of str, checked against the number of columns.

    Parameters
    ----------
    raw_names : array-like
        Stored names (cell array, char matrix or string array).
    n_cols : int
        Number of columns of the matrix.
    source : str
        Where the names come from, for error messages.

    Returns
    -------
    feature_names : list of str of length n_cols
    """
    names = _strings(raw_names)
    if len(names) != n_cols:
        raise ValueError(
            f"feature_names from {source} has {len(names)} entries but the matrix has "
            f"{n_cols} columns; they must match."
        )
    return names


def _missing_key(parameter, key, path, available):
    """ValueError for a key absent from a file, listing the keys it holds.

    Parameters
    ----------
    parameter : str
        Name of the parameter that gave the key.
    key : str
        The missing key.
    path : str or path-like
        The file.
    available : iterable of str
        Keys the file holds.

    Returns
    -------
    error : ValueError
    """
    return ValueError(
        f"{parameter}={key!r} is not in {os.fspath(path)}; available keys: {sorted(available)}."
    )


def _describe(kind, path, X, row_labels, column_labels):
    """One-paragraph DESCR for a matrix loaded from a file.

    Parameters
    ----------
    kind : str
        File format, e.g. ``"MATLAB file"``.
    path : str or path-like
        The file.
    X : scipy.sparse.csr_matrix of shape (n_rows, n_cols)
    row_labels, column_labels : ndarray or None

    Returns
    -------
    descr : str
    """
    return (
        f"{kind} {os.fspath(path)}: {X.shape[0]} rows x {X.shape[1]} columns, "
        f"{X.nnz} stored non-zeros; row labels: {_count_classes(row_labels)}; "
        f"column labels: {_count_classes(column_labels)}."
    )


def _count_classes(labels):
    """``"none"`` or ``"<k> classes"`` for labels coded ``0 .. k-1``."""
    return "none" if labels is None else f"{np.unique(labels).size} classes"


def _bunch(X, row_labels, column_labels, feature_names, descr):
    """The Bunch every loader returns (see the module docstring)."""
    return Bunch(
        data=X,
        row_labels=row_labels,
        column_labels=column_labels,
        feature_names=feature_names,
        DESCR=descr,
    )


# --------------------------------------------------------------------------
# MATLAB
# --------------------------------------------------------------------------


def _matlab_variable(variables, parameter, key, path):
    """One variable of a loaded ``.mat`` file, or a ValueError listing the others.

    Parameters
    ----------
    variables : dict
        As returned by :func:`scipy.io.loadmat` (with its ``__header__``-like entries).
    parameter : str
        Parameter that gave the key, for the error message.
    key : str
        Variable name.
    path : str or path-like
        The file, for the error message.

    Returns
    -------
    value : ndarray or scipy sparse matrix
    """
    available = [name for name in variables if not name.startswith("__")]
    if key not in available:
        raise _missing_key(parameter, key, path, available)
    return variables[key]


def load_matlab(path, *, matrix_key, row_labels_key=None, column_labels_key=None,
                feature_names_key=None):
    """Load a matrix and its labels from a MATLAB ``.mat`` file (v4 to v7.2).

    Parameters
    ----------
    path : str or path-like
        Path to the ``.mat`` file.
    matrix_key : str
        Name of the variable that holds the matrix, dense or sparse.
    row_labels_key : str, default=None
        Variable holding one label per row, e.g. ``"gnd"``. None: no row labels.
    column_labels_key : str, default=None
        Variable holding one label per column. None: no column labels.
    feature_names_key : str, default=None
        Variable holding one name per column (a cell array of strings or a
        char matrix), e.g. ``"ms"`` in Classic3. None: no names.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (n_rows, n_cols), float64;
        ``row_labels``: ndarray of shape (n_rows,), int64, or None;
        ``column_labels``: ndarray of shape (n_cols,), int64, or None;
        ``feature_names``: list of n_cols str, or None; ``DESCR``: str.
        Labels stored as (n, 1) or (1, n) arrays are flattened and relabelled
        ``0 .. k-1`` in sorted order of their values.

    Raises
    ------
    ValueError
        If a key is not in the file (the message lists the variables it
        holds), if the matrix is not 2-D numeric, if labels or names do not
        match the matrix size, or if the file is a MATLAB v7.3 (HDF5) file.

    Examples
    --------
    >>> from skcocluster.datasets import load_matlab
    >>> bunch = load_matlab("cstr.mat", matrix_key="fea",
    ...                     row_labels_key="gnd")  # doctest: +SKIP
    """
    try:
        variables = scipy.io.loadmat(path)
    except NotImplementedError as error:
        raise ValueError(
            f"{os.fspath(path)} is a MATLAB v7.3 (HDF5) file, which scipy.io.loadmat cannot "
            "read; save it with -v7 in MATLAB or convert it to .npz."
        ) from error
    source = os.fspath(path)
    X = _to_csr(_matlab_variable(variables, "matrix_key", matrix_key, path), source)
    row_labels = column_labels = feature_names = None
    if row_labels_key is not None:
        raw_labels = _matlab_variable(variables, "row_labels_key", row_labels_key, path)
        row_labels = _relabel(raw_labels, X.shape[0], "row_labels", source)
    if column_labels_key is not None:
        raw_labels = _matlab_variable(variables, "column_labels_key", column_labels_key, path)
        column_labels = _relabel(raw_labels, X.shape[1], "column_labels", source)
    if feature_names_key is not None:
        raw_names = _matlab_variable(variables, "feature_names_key", feature_names_key, path)
        feature_names = _feature_names(raw_names, X.shape[1], source)
    descr = _describe("MATLAB file", path, X, row_labels, column_labels)
    return _bunch(X, row_labels, column_labels, feature_names, descr)


# --------------------------------------------------------------------------
# Matrix Market
# --------------------------------------------------------------------------


def _read_label_file(path):
    """Labels from a text file with one label per line (blank lines skipped).

    Labels that all parse as integers are read as integers, so that ``10``
    sorts after ``2`` when relabelling; otherwise they stay strings.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    labels : ndarray of shape (n_labels,)
    """
    with open(path, encoding="utf-8") as handle:
        tokens = [line.strip() for line in handle if line.strip()]
    try:
        return np.array([int(token) for token in tokens], dtype=np.int64)
    except ValueError:
        return np.array(tokens)


def _labels_argument(labels, n_items, name):
    """Labels given as an array or as the path of a text file.

    Parameters
    ----------
    labels : array-like, str, path-like or None
    n_items : int
        Number of rows (or columns) of the matrix.
    name : str
        Parameter name, for error messages.

    Returns
    -------
    labels : ndarray of shape (n_items,), dtype int64, or None
    """
    if labels is None:
        return None
    if isinstance(labels, (str, os.PathLike)):
        return _relabel(_read_label_file(labels), n_items, name, os.fspath(labels))
    return _relabel(labels, n_items, name, f"the {name} argument")


def load_matrix_market(path, *, row_labels=None, column_labels=None):
    """Load a matrix from a Matrix Market (``.mtx``) file, with optional labels.

    Parameters
    ----------
    path : str or path-like
        Path to the ``.mtx`` file (coordinate or array format; a ``.gz`` or
        ``.bz2`` suffix is decompressed).
    row_labels : array-like of shape (n_rows,), str or path-like, default=None
        Row labels, or the path of a text file with one label per line.
        Labels that all parse as integers are compared as integers.
    column_labels : array-like of shape (n_cols,), str or path-like, default=None
        Column labels, or the path of a text file with one label per line.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (n_rows, n_cols), float64
        (the shape of the file's header, empty rows and columns included);
        ``row_labels``, ``column_labels``: int64 ndarrays relabelled
        ``0 .. k-1``, or None; ``feature_names``: None; ``DESCR``: str.

    Raises
    ------
    ValueError
        If the labels do not match the matrix size.
    """
    X = _to_csr(scipy.io.mmread(path), os.fspath(path))
    row_codes = _labels_argument(row_labels, X.shape[0], "row_labels")
    column_codes = _labels_argument(column_labels, X.shape[1], "column_labels")
    descr = _describe("Matrix Market file", path, X, row_codes, column_codes)
    return _bunch(X, row_codes, column_codes, None, descr)


# --------------------------------------------------------------------------
# NumPy archives
# --------------------------------------------------------------------------


def _optional_array(archive, parameter, key, default_key, path):
    """An array of an ``.npz`` archive, absent only when allowed.

    Parameters
    ----------
    archive : numpy.lib.npyio.NpzFile
    parameter : str
        Parameter that gave the key, for error messages.
    key : str or None
        Requested key; None means "do not read".
    default_key : str
        The parameter's default: when ``key`` equals it, the array is optional.
    path : str or path-like
        The file, for error messages.

    Returns
    -------
    array : ndarray or None
    """
    if key is None or (key == default_key and key not in archive.files):
        return None
    if key not in archive.files:
        raise _missing_key(parameter, key, path, archive.files)
    return archive[key]


def _npz_matrix(archive, path, matrix_key):
    """The matrix of an ``.npz`` archive, in save_npz layout or dense under a key.

    Parameters
    ----------
    archive : numpy.lib.npyio.NpzFile
    path : str or path-like
    matrix_key : str

    Returns
    -------
    X : scipy.sparse.csr_matrix, dtype float64
    """
    if _SPARSE_NPZ_KEYS <= set(archive.files):
        return _to_csr(sp.load_npz(path), os.fspath(path))
    if matrix_key not in archive.files:
        raise _missing_key("matrix_key", matrix_key, path, archive.files)
    return _to_csr(archive[matrix_key], os.fspath(path))


def load_npz(path, *, matrix_key="data", row_labels_key="row_labels",
             column_labels_key="column_labels", feature_names_key="feature_names"):
    """Load a matrix and its labels from a NumPy ``.npz`` archive.

    Two layouts are read:

    - **sparse**: an archive written by :func:`scipy.sparse.save_npz` (it holds
      ``format``, ``shape``, ``data``, ``indices``, ...). The matrix is read
      with :func:`scipy.sparse.load_npz` and ``matrix_key`` is not used. Label
      and name arrays may be added to the same archive (e.g. with
      ``numpy.savez_compressed(path, **arrays)``) under their keys.
    - **dense**: a 2-D array under ``matrix_key``, next to the label arrays
      (``numpy.savez(path, data=X, row_labels=y)``).

    Parameters
    ----------
    path : str or path-like
        Path to the ``.npz`` file. Object arrays are refused (no pickle).
    matrix_key : str, default="data"
        Key of the dense matrix (dense layout only).
    row_labels_key : str or None, default="row_labels"
        Key of the row labels. At its default the array is optional (no such
        key: ``row_labels`` is None); any other key must exist. None: skip.
    column_labels_key : str or None, default="column_labels"
        Key of the column labels, optional at its default as above.
    feature_names_key : str or None, default="feature_names"
        Key of a string array with one name per column, optional at its
        default as above.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (n_rows, n_cols), float64;
        ``row_labels``: ndarray of shape (n_rows,), int64, or None;
        ``column_labels``: ndarray of shape (n_cols,), int64, or None;
        ``feature_names``: list of n_cols str, or None; ``DESCR``: str.

    Raises
    ------
    ValueError
        If a required key is missing (the message lists the keys the archive
        holds), if the matrix is not 2-D numeric, or if labels or names do
        not match the matrix size.
    """
    archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{os.fspath(path)} is a single .npy array, not an .npz archive.")
    with archive:
        X = _npz_matrix(archive, path, matrix_key)
        raw_rows = _optional_array(archive, "row_labels_key", row_labels_key, "row_labels", path)
        raw_columns = _optional_array(
            archive, "column_labels_key", column_labels_key, "column_labels", path
        )
        raw_names = _optional_array(
            archive, "feature_names_key", feature_names_key, "feature_names", path
        )
    source = os.fspath(path)
    row_labels = None if raw_rows is None else _relabel(raw_rows, X.shape[0], "row_labels",
                                                        source)
    column_labels = (
        None if raw_columns is None
        else _relabel(raw_columns, X.shape[1], "column_labels", source)
    )
    feature_names = None if raw_names is None else _feature_names(raw_names, X.shape[1], source)
    descr = _describe("NumPy archive", path, X, row_labels, column_labels)
    return _bunch(X, row_labels, column_labels, feature_names, descr)


# --------------------------------------------------------------------------
# Bundled data
# --------------------------------------------------------------------------


def load_cstr(*, return_X_y=False):
    """Load the CSTR corpus: 475 abstracts x 1000 words, word counts, 4 classes.

    Abstracts of computer science technical reports, a standard co-clustering
    benchmark (see ``DESCR`` for its origin and content). It ships with the
    package; nothing is downloaded.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, row_labels)`` instead of a Bunch.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (475, 1000), float64 word
        counts; ``row_labels``: ndarray of shape (475,), int64 in ``0 .. 3``;
        ``column_labels``: None; ``feature_names``: None (the source has no
        vocabulary); ``DESCR``: str.
    (data, row_labels) : tuple
        If ``return_X_y`` is True.

    Examples
    --------
    >>> from skcocluster.datasets import load_cstr
    >>> X, y = load_cstr(return_X_y=True)
    >>> X.shape
    (475, 1000)
    """
    data_dir = resources.files(__package__).joinpath("data")
    # as_file gives a real path even when the package is installed zipped.
    with resources.as_file(data_dir.joinpath("cstr.npz")) as path:
        bunch = load_npz(path)
    bunch.DESCR = data_dir.joinpath("cstr.rst").read_text(encoding="utf-8")
    if return_X_y:
        return bunch.data, bunch.row_labels
    return bunch
