"""Tests of skcocluster.datasets.fetch_*: download once, checksum, cache, load.

Nothing here touches the network: the download is replaced by a copy of a small
``.mat`` file written in tmp_path, and the expected checksums are patched to that
file's. An optional check reads the real corpora from ``../shared/data`` (beside
the clone) when that folder exists, and is skipped otherwise.
"""

import hashlib
import io
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from skcocluster.datasets import (
    fetch_classic3,
    fetch_corpus,
    fetch_cstr,
    fetch_reviews,
    fetch_webace,
)
from skcocluster.datasets import _fetchers

REAL_DOWNLOAD = _fetchers._download
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FETCHERS = {"cstr": fetch_cstr, "classic3": fetch_classic3, "webace": fetch_webace,
            "reviews": fetch_reviews}


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_small_corpus(path, corpus):
    """A 12 x 8 .mat file with the variables of ``corpus`` (labels 1-based, MATLAB style)."""
    X = sp.random(12, 8, density=0.4, format="csc", random_state=0) * 5
    variables = {corpus["matrix_key"]: X,
                 corpus["row_labels_key"]: np.repeat([1, 2, 3], 4)[:, None]}
    if corpus["feature_names_key"] is not None:
        variables[corpus["feature_names_key"]] = np.array(
            [f"word{j}" for j in range(8)], dtype=object)[:, None]
    scipy.io.savemat(path, variables)
    return X


class FakeDownload:
    """Stands in for ``_fetchers._download``: copies local files and records the URLs."""

    def __init__(self, sources):
        self.sources = sources  # file name -> local path
        self.urls = []

    def __call__(self, url, path):
        self.urls.append(url)
        shutil.copyfile(self.sources[url.rsplit("/", 1)[1]], path)


@pytest.fixture
def small_cstr(tmp_path, monkeypatch):
    """A small cstr.mat as the 'remote' file, its checksum in the table, a fake download.

    Returns ``(download, X, data_home)``.
    """
    corpus = _fetchers.CORPORA["cstr"]
    remote = tmp_path / "remote" / corpus["file"]
    remote.parent.mkdir()
    X = _write_small_corpus(remote, corpus)
    monkeypatch.setitem(corpus, "sha256", _sha256(remote))
    download = FakeDownload({corpus["file"]: remote})
    monkeypatch.setattr(_fetchers, "_download", download)
    return download, X, tmp_path / "home"


def test_first_fetch_downloads_and_caches(small_cstr):
    download, X, data_home = small_cstr
    bunch = fetch_cstr(data_home=data_home)
    assert download.urls == [
        "https://github.com/Saeidhoseinipour/NMTFcoclust/raw/HEAD/Datasets/cstr.mat"]
    cached = data_home / "skcocluster" / "cstr.mat"
    assert bunch.filename == str(cached) and cached.exists()
    assert os.listdir(cached.parent) == ["cstr.mat"]  # no temporary file left
    assert sp.issparse(bunch.data) and bunch.data.format == "csr"
    np.testing.assert_allclose(bunch.data.toarray(), X.toarray())
    np.testing.assert_array_equal(bunch.row_labels, np.repeat([0, 1, 2], 4))
    assert "NMTFcoclust" in bunch.DESCR and "Apache-2.0" in bunch.DESCR
    assert bunch.column_labels is None and bunch.feature_names is None


def test_second_fetch_reads_the_cache(small_cstr):
    download, X, data_home = small_cstr
    first = fetch_cstr(data_home=data_home)
    second = fetch_cstr(data_home=data_home)
    third = fetch_cstr(data_home=data_home, download_if_missing=False)
    assert len(download.urls) == 1
    for bunch in (second, third):
        np.testing.assert_allclose(bunch.data.toarray(), first.data.toarray())


def test_wrong_checksum_raises_and_leaves_nothing(small_cstr, monkeypatch):
    download, _, data_home = small_cstr
    expected = "0" * 64
    monkeypatch.setitem(_fetchers.CORPORA["cstr"], "sha256", expected)
    actual = _sha256(download.sources["cstr.mat"])
    with pytest.raises(OSError) as error:
        fetch_cstr(data_home=data_home)
    message = str(error.value)
    assert "cstr.mat" in message and expected in message and actual in message
    assert os.listdir(data_home / "skcocluster") == []
    # Nothing was cached: without downloading, the file is still missing.
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_cstr(data_home=data_home, download_if_missing=False)


def test_failed_download_leaves_nothing(small_cstr, monkeypatch):
    _, _, data_home = small_cstr

    def broken(url, path):
        Path(path).write_bytes(b"partial")
        raise OSError("connection reset")

    monkeypatch.setattr(_fetchers, "_download", broken)
    with pytest.raises(OSError, match="connection reset"):
        fetch_cstr(data_home=data_home)
    assert os.listdir(data_home / "skcocluster") == []


def test_no_download_if_missing_raises_naming_the_path(small_cstr):
    download, _, data_home = small_cstr
    with pytest.raises(OSError) as error:
        fetch_cstr(data_home=data_home, download_if_missing=False)
    assert str(data_home / "skcocluster" / "cstr.mat") in str(error.value)
    assert download.urls == []


def test_return_X_y(small_cstr):
    _, X, data_home = small_cstr
    data, labels = fetch_cstr(data_home=data_home, return_X_y=True)
    np.testing.assert_allclose(data.toarray(), X.toarray())
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 4))


def test_scikit_learn_data_sets_the_data_home(small_cstr, tmp_path, monkeypatch):
    download, _, _ = small_cstr
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "env_home"))
    bunch = fetch_cstr()
    assert bunch.filename == str(tmp_path / "env_home" / "skcocluster" / "cstr.mat")
    assert os.path.exists(bunch.filename) and len(download.urls) == 1
    fetch_corpus("CSTR")  # the name is case-insensitive; the cache is found again
    assert len(download.urls) == 1


def test_data_home_wins_over_scikit_learn_data(small_cstr, tmp_path, monkeypatch):
    _, _, data_home = small_cstr
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "env_home"))
    bunch = fetch_cstr(data_home=data_home)
    assert bunch.filename == str(data_home / "skcocluster" / "cstr.mat")
    assert not (tmp_path / "env_home" / "skcocluster" / "cstr.mat").exists()


def test_download_uses_urlopen(small_cstr, monkeypatch):
    # The real _download, with urllib.request.urlopen serving the local file's bytes.
    download, _, data_home = small_cstr
    payload = Path(download.sources["cstr.mat"]).read_bytes()
    opened = []

    def fake_urlopen(url, timeout=None):
        opened.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(_fetchers, "_download", REAL_DOWNLOAD)  # undo the fixture's fake
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    bunch = fetch_cstr(data_home=data_home)
    assert opened == [_fetchers.BASE_URL + "cstr.mat"]
    assert Path(bunch.filename).read_bytes() == payload


@pytest.mark.parametrize("name", sorted(_fetchers.CORPORA))
def test_every_fetcher_reads_its_variables(name, tmp_path, monkeypatch):
    corpus = _fetchers.CORPORA[name]
    remote = tmp_path / corpus["file"]
    X = _write_small_corpus(remote, corpus)
    monkeypatch.setitem(corpus, "sha256", _sha256(remote))
    monkeypatch.setattr(_fetchers, "_download", FakeDownload({corpus["file"]: remote}))
    bunch = FETCHERS[name](data_home=tmp_path / "home")
    np.testing.assert_allclose(bunch.data.toarray(), X.toarray())
    assert bunch.row_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    if corpus["feature_names_key"] is not None:
        assert bunch.feature_names == [f"word{j}" for j in range(8)]


def test_unknown_corpus():
    with pytest.raises(ValueError, match="classic3"):
        fetch_corpus("classic4")


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no ../shared/data beside the clone")
@pytest.mark.parametrize("name", sorted(_fetchers.CORPORA))
def test_real_corpus_checksum_and_shape(name, tmp_path, monkeypatch):
    # The real files, "downloaded" from the local copy: the table's checksums, keys,
    # shapes and numbers of classes match them.
    corpus = _fetchers.CORPORA[name]
    local = SHARED_DATA / corpus["file"]
    if not local.exists():
        pytest.skip(f"{local} not found")
    monkeypatch.setattr(_fetchers, "_download", FakeDownload({corpus["file"]: local}))
    bunch = fetch_corpus(name, data_home=tmp_path)
    assert _sha256(bunch.filename) == corpus["sha256"]
    assert bunch.data.shape == corpus["shape"]
    assert np.unique(bunch.row_labels).size == corpus["n_classes"]
