"""Fetchers of the four public document x word corpora of the benchmark.

Each corpus is a MATLAB file of the public GitHub repository
Saeidhoseinipour/NMTFcoclust (folder ``Datasets/``, Apache-2.0 licence). It is
downloaded once into ``<data home>/skcocluster`` (the data home of
:func:`sklearn.datasets.get_data_home`, so ``SCIKIT_LEARN_DATA`` moves it), its
SHA-256 checksum is checked, and later calls read the cached file.

Every fetcher returns the :class:`sklearn.utils.Bunch` of
:func:`~skcocluster.datasets.load_matlab` (``data``, ``row_labels``,
``column_labels``, ``feature_names``, ``DESCR``) plus ``filename``, the path of
the cached file.
"""

import hashlib
import os
import shutil
import tempfile
import urllib.request

from sklearn.datasets import get_data_home

from ._loaders import load_matlab

__all__ = ["fetch_corpus", "fetch_cstr", "fetch_classic3", "fetch_webace", "fetch_reviews"]

BASE_URL = "https://github.com/Saeidhoseinipour/NMTFcoclust/raw/HEAD/Datasets/"
DOWNLOAD_TIMEOUT = 60  # seconds without data before urlopen gives up

_SOURCE = (
    "Source: the file {file} of the public GitHub repository "
    "Saeidhoseinipour/NMTFcoclust, folder Datasets/ (Apache-2.0 licence), "
    "downloaded from {url}."
)

# Name (lower case) -> file, SHA-256 of the file, variables of load_matlab, size, description.
CORPORA = {
    "cstr": dict(
        file="cstr.mat",
        sha256="8e0876ddef4cb6358f8b87e81888864668c0fed88226965cc0343244c2cf9c87",
        matrix_key="fea", row_labels_key="gnd", feature_names_key=None,
        shape=(475, 1000), n_classes=4,
        description=(
            "CSTR: 475 abstracts of computer science technical reports x 1000 words, "
            "4 classes (research areas). The matrix holds tf-idf weights, not counts "
            "(load_cstr ships the integer counts recovered from them)."
        ),
    ),
    "classic3": dict(
        file="classic3.mat",
        sha256="94989d2c1c884945ae960f173eb2ed1cc078c5eded6786f24d2d717274d767d4",
        matrix_key="A", row_labels_key="labels", feature_names_key="ms",
        shape=(3891, 4303), n_classes=3,
        description=(
            "Classic3: 3891 abstracts (MEDLINE, CISI, CRANFIELD) x 4303 words, 3 classes "
            "(the collection). The matrix holds word counts; feature_names holds the words."
        ),
    ),
    "webace": dict(
        file="WebACE.mat",
        sha256="f7c7f4f891c90491fdbe52b5ff7f060cb0d67fb414f1c987da7eb117d15c7a41",
        matrix_key="fea", row_labels_key="gnd", feature_names_key=None,
        shape=(2340, 1000), n_classes=20,
        description=(
            "WebACE: 2340 web pages x 1000 words, 20 very unbalanced classes (9 to 494 "
            "pages). The matrix holds non-integer word weights."
        ),
    ),
    "reviews": dict(
        file="reviews.mat",
        sha256="ac52aacf94cde86aea026dbce726a645d1ae06a505e5a3c1211e83b1019a0ba1",
        matrix_key="dtm", row_labels_key="classid", feature_names_key=None,
        shape=(4069, 18483), n_classes=5,
        description=(
            "Reviews: 4069 product reviews x 18483 words, 5 classes. The matrix holds "
            "word counts."
        ),
    ),
}


def _corpus_folder(data_home):
    """``<data home>/skcocluster``, created if missing.

    Parameters
    ----------
    data_home : str, path-like or None
        Passed to :func:`sklearn.datasets.get_data_home` (None: ``SCIKIT_LEARN_DATA``
        or ``~/scikit_learn_data``).

    Returns
    -------
    folder : str
    """
    folder = os.path.join(get_data_home(data_home), "skcocluster")
    os.makedirs(folder, exist_ok=True)
    return folder


def _download(url, path):
    """Write the content at ``url`` to the file ``path`` (plain urllib, no retries).

    Parameters
    ----------
    url : str
    path : str
    """
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, \
            open(path, "wb") as handle:
        shutil.copyfileobj(response, handle)


def _sha256(path):
    """Hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2 ** 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_file(corpus, data_home, download_if_missing):
    """Path of a corpus' cached file, downloaded and checked first if missing.

    The download goes to a temporary file of the same folder, which is renamed to
    its final name only once its checksum matches: the cache never holds a partial
    or corrupted file under the final name.

    Parameters
    ----------
    corpus : dict
        An entry of ``CORPORA``.
    data_home : str, path-like or None
    download_if_missing : bool

    Returns
    -------
    path : str
    """
    folder = _corpus_folder(data_home)
    path = os.path.join(folder, corpus["file"])
    if os.path.exists(path):
        return path
    if not download_if_missing:
        raise OSError(
            f"{path} does not exist and download_if_missing=False; call again with "
            "download_if_missing=True to download it."
        )
    url = BASE_URL + corpus["file"]
    handle, partial = tempfile.mkstemp(dir=folder, prefix=corpus["file"] + ".",
                                       suffix=".part")
    os.close(handle)
    try:
        _download(url, partial)
        digest = _sha256(partial)
        if digest != corpus["sha256"]:
            raise OSError(
                f"The file {corpus['file']} downloaded from {url} has SHA-256 {digest}, "
                f"expected {corpus['sha256']}; it was discarded (not cached)."
            )
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def fetch_corpus(name, *, data_home=None, download_if_missing=True, return_X_y=False):
    """Load one of the benchmark's document x word corpora, downloading it once.

    The file is taken from ``<data home>/skcocluster`` if it is there; otherwise it
    is downloaded from the public GitHub repository Saeidhoseinipour/NMTFcoclust
    (folder ``Datasets/``, Apache-2.0 licence), its SHA-256 checksum is checked and
    it is cached there.

    Parameters
    ----------
    name : {"cstr", "classic3", "webace", "reviews"}
        The corpus (case-insensitive). See :func:`fetch_cstr`,
        :func:`fetch_classic3`, :func:`fetch_webace` and :func:`fetch_reviews`.
    data_home : str or path-like, default=None
        Folder whose ``skcocluster`` subfolder caches the files. None: the
        scikit-learn data home, ``SCIKIT_LEARN_DATA`` or ``~/scikit_learn_data``
        (see :func:`sklearn.datasets.get_data_home`).
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading a file that is not cached.
    return_X_y : bool, default=False
        If True, return ``(data, row_labels)`` instead of a Bunch.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (n_documents, n_words), float64;
        ``row_labels``: ndarray of shape (n_documents,), int64 in ``0 .. k-1``;
        ``column_labels``: None; ``feature_names``: list of str (Classic3) or None;
        ``DESCR``: str (content, source and licence); ``filename``: str, the path
        of the cached ``.mat`` file.
    (data, row_labels) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If ``name`` is not one of the corpora.
    OSError
        If the file is not cached and ``download_if_missing`` is False (the message
        names the path), if the download fails, or if the downloaded file's
        checksum differs from the expected one (the message names the file and
        both digests, and nothing is left in the cache).

    Examples
    --------
    >>> from skcocluster.datasets import fetch_corpus
    >>> X, y = fetch_corpus("classic3", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (3891, 4303)
    """
    key = str(name).lower()
    if key not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}; expected one of {sorted(CORPORA)}.")
    corpus = CORPORA[key]
    path = _fetch_file(corpus, data_home, download_if_missing)
    bunch = load_matlab(path, matrix_key=corpus["matrix_key"],
                        row_labels_key=corpus["row_labels_key"],
                        feature_names_key=corpus["feature_names_key"])
    if return_X_y:
        return bunch.data, bunch.row_labels
    url = BASE_URL + corpus["file"]
    bunch.DESCR = "\n\n".join([corpus["description"],
                               _SOURCE.format(file=corpus["file"], url=url),
                               bunch.DESCR])
    bunch.filename = path
    return bunch


def fetch_cstr(*, data_home=None, download_if_missing=True, return_X_y=False):
    """Load the CSTR corpus (475 abstracts x 1000 words, 4 classes), downloading it once.

    The original ``cstr.mat``: abstracts of computer science technical reports,
    labelled by research area, as tf-idf weights. :func:`load_cstr` ships the same
    documents as integer word counts and downloads nothing. The file comes from the
    public GitHub repository Saeidhoseinipour/NMTFcoclust (folder ``Datasets/``,
    Apache-2.0 licence) and is cached in ``<data home>/skcocluster``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder whose ``skcocluster`` subfolder caches the file. None: the
        scikit-learn data home (see :func:`sklearn.datasets.get_data_home`).
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading a file that is not cached.
    return_X_y : bool, default=False
        If True, return ``(data, row_labels)`` instead of a Bunch.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (475, 1000), float64 tf-idf
        weights; ``row_labels``: ndarray of shape (475,), int64 in ``0 .. 3``;
        ``column_labels``, ``feature_names``: None; ``DESCR``: str;
        ``filename``: str, the cached file.
    (data, row_labels) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    OSError
        See :func:`fetch_corpus`.

    Examples
    --------
    >>> from skcocluster.datasets import fetch_cstr
    >>> X, y = fetch_cstr(return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (475, 1000)
    """
    return fetch_corpus("cstr", data_home=data_home,
                        download_if_missing=download_if_missing, return_X_y=return_X_y)


def fetch_classic3(*, data_home=None, download_if_missing=True, return_X_y=False):
    """Load the Classic3 corpus (3891 abstracts x 4303 words, 3 classes), downloading it once.

    Abstracts of the MEDLINE, CISI and CRANFIELD collections, labelled by
    collection, as word counts, with the words as ``feature_names``. The file
    ``classic3.mat`` comes from the public GitHub repository
    Saeidhoseinipour/NMTFcoclust (folder ``Datasets/``, Apache-2.0 licence) and is
    cached in ``<data home>/skcocluster``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder whose ``skcocluster`` subfolder caches the file. None: the
        scikit-learn data home (see :func:`sklearn.datasets.get_data_home`).
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading a file that is not cached.
    return_X_y : bool, default=False
        If True, return ``(data, row_labels)`` instead of a Bunch.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (3891, 4303), float64 counts;
        ``row_labels``: ndarray of shape (3891,), int64 in ``0 .. 2``;
        ``column_labels``: None; ``feature_names``: list of 4303 str;
        ``DESCR``: str; ``filename``: str, the cached file.
    (data, row_labels) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    OSError
        See :func:`fetch_corpus`.

    Examples
    --------
    >>> from skcocluster.datasets import fetch_classic3
    >>> bunch = fetch_classic3()  # doctest: +SKIP
    >>> bunch.data.shape, len(bunch.feature_names)  # doctest: +SKIP
    ((3891, 4303), 4303)
    """
    return fetch_corpus("classic3", data_home=data_home,
                        download_if_missing=download_if_missing, return_X_y=return_X_y)


def fetch_webace(*, data_home=None, download_if_missing=True, return_X_y=False):
    """Load the WebACE corpus (2340 web pages x 1000 words, 20 classes), downloading it once.

    Web pages in 20 very unbalanced classes (9 to 494 pages), as non-integer word
    weights. The file ``WebACE.mat`` comes from the public GitHub repository
    Saeidhoseinipour/NMTFcoclust (folder ``Datasets/``, Apache-2.0 licence) and is
    cached in ``<data home>/skcocluster``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder whose ``skcocluster`` subfolder caches the file. None: the
        scikit-learn data home (see :func:`sklearn.datasets.get_data_home`).
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading a file that is not cached.
    return_X_y : bool, default=False
        If True, return ``(data, row_labels)`` instead of a Bunch.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (2340, 1000), float64;
        ``row_labels``: ndarray of shape (2340,), int64 in ``0 .. 19``;
        ``column_labels``, ``feature_names``: None; ``DESCR``: str;
        ``filename``: str, the cached file.
    (data, row_labels) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    OSError
        See :func:`fetch_corpus`.

    Examples
    --------
    >>> from skcocluster.datasets import fetch_webace
    >>> X, y = fetch_webace(return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (2340, 1000)
    """
    return fetch_corpus("webace", data_home=data_home,
                        download_if_missing=download_if_missing, return_X_y=return_X_y)


def fetch_reviews(*, data_home=None, download_if_missing=True, return_X_y=False):
    """Load the Reviews corpus (4069 reviews x 18483 words, 5 classes), downloading it once.

    Product reviews in 5 classes, as word counts. The file ``reviews.mat`` comes
    from the public GitHub repository Saeidhoseinipour/NMTFcoclust (folder
    ``Datasets/``, Apache-2.0 licence) and is cached in ``<data home>/skcocluster``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder whose ``skcocluster`` subfolder caches the file. None: the
        scikit-learn data home (see :func:`sklearn.datasets.get_data_home`).
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading a file that is not cached.
    return_X_y : bool, default=False
        If True, return ``(data, row_labels)`` instead of a Bunch.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``data``: scipy.sparse.csr_matrix of shape (4069, 18483), float64 counts;
        ``row_labels``: ndarray of shape (4069,), int64 in ``0 .. 4``;
        ``column_labels``, ``feature_names``: None; ``DESCR``: str;
        ``filename``: str, the cached file.
    (data, row_labels) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    OSError
        See :func:`fetch_corpus`.

    Examples
    --------
    >>> from skcocluster.datasets import fetch_reviews
    >>> X, y = fetch_reviews(return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (4069, 18483)
    """
    return fetch_corpus("reviews", data_home=data_home,
                        download_if_missing=download_if_missing, return_X_y=return_X_y)
