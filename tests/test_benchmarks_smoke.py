"""Smoke tests of benchmarks/run_benchmarks.py: one tiny planted case, and the corpus table.

The deep model is not fitted here (too slow for a unit test); the benchmark itself exercises it.
"""

import importlib
import math
import os

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")


@pytest.fixture
def runner(monkeypatch):
    """The runner imported as a module; its folder stays on sys.path so that the spawned
    child process can import it too."""
    monkeypatch.syspath_prepend(BENCHMARKS)
    return importlib.import_module("run_benchmarks")


@pytest.mark.slow
def test_run_simulated_records(runner, tmp_path):
    # One isolated fit (in a child process, as in the benchmark) and one in this process.
    isolated = runner.run_simulated(sizes=[(300, 200)], seeds=1, cases=["size"],
                                    methods=["SpectralCoclustering"], warmup=False)
    in_process = runner.run_simulated(sizes=[(300, 200)], seeds=1, cases=["size"],
                                      methods=["KMeans (tf-idf)"], isolate=False,
                                      warmup=False)
    records = isolated + in_process
    assert [r["method"] for r in records] == ["SpectralCoclustering", "KMeans (tf-idf)"]
    expected = {"part", "dataset", "method", "seed", "status", "error", "nmi", "ari",
                "accuracy", "cari", "seconds", "peak_rss_mb", "fit_rss_mb", "n_rows", "n_cols"}
    for record in records:
        assert expected <= set(record), expected - set(record)
        assert record["status"] == "ok", record["error"]
        assert (record["n_rows"], record["n_cols"]) == (300, 200)
        for key in ("nmi", "ari", "accuracy", "seconds"):
            assert math.isfinite(record[key])
    assert math.isfinite(records[0]["cari"]) and records[0]["peak_rss_mb"] > 0
    assert records[1]["cari"] is None  # KMeans clusters the rows only
    assert records[1]["peak_rss_mb"] is None  # not measured without a child process

    runner.write_results(records, {"command": "test", "seeds": 1, "dlbm_params": {},
                                   "machine": "test"}, str(tmp_path), plots=False)
    table = (tmp_path / "results.md").read_text()
    assert "SpectralCoclustering" in table and "KMeans (tf-idf)" in table
    assert (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_children_are_kept_from_fit_to_fit_unless_fresh(runner):
    # Two fits in one kept child: one process, each fit's peak memory its own high-water
    # mark (restarted before the fit); --fresh-process: one process per fit. Same scores.
    kwargs = dict(sizes=[(300, 200)], seeds=1, cases=["size"],
                  methods=["SpectralCoclustering", "KMeans (tf-idf)"], warmup=False)
    kept = runner.run_simulated(**kwargs)
    fresh = runner.run_simulated(fresh_process=True, **kwargs)
    assert len({r["pid"] for r in kept}) == 1
    assert len({r["pid"] for r in fresh}) == 2 and not {r["pid"] for r in fresh} & {
        r["pid"] for r in kept}
    for first, second in zip(kept, fresh):
        assert first["status"] == second["status"] == "ok"
        assert first["nmi"] == second["nmi"]
        assert first["peak_rss_mb"] >= first["baseline_rss_mb"] > 0
        assert first["fit_rss_mb"] >= 0


def test_failed_method_is_recorded(runner):
    # A matrix with empty rows makes the spectral methods fail; the run must go on.
    job = dict(dataset=dict(part="simulated", name="empty rows", kind="lbm", n_rows=60,
                            n_cols=40, n_clusters=3, sweep=None, x=None,
                            lbm=dict(block_params=np.zeros((3, 3)).tolist())),
               method="sc", seed=0, dlbm_params={}, warmup=False)
    record = runner.execute(job, isolate=False)
    assert record["status"] == "failed" and record["error"]
    assert record["nmi"] is None


def test_corpus_table_loads_a_mat_file(runner, tmp_path):
    entry = runner.CORPORA["classic3"]
    X = sp.random(30, 20, density=0.3, format="csc", random_state=0) * 10
    labels = np.repeat([1, 2, 3], 10)[:, None]  # MATLAB style: a column, 1-based
    scipy.io.savemat(tmp_path / entry["file"], {entry["matrix_key"]: X,
                                                entry["labels_key"]: labels})

    specs = runner.real_datasets(str(tmp_path))  # the other corpora are missing: skipped
    assert [spec["name"] for spec in specs] == ["classic3"]
    data, row_labels, column_labels = runner.load_dataset(specs[0], seed=0)
    assert sp.issparse(data) and data.format == "csr" and data.shape == (30, 20)
    np.testing.assert_array_equal(row_labels, np.repeat([0, 1, 2], 10))
    assert column_labels is None and specs[0]["n_clusters"] == entry["n_classes"]
    binary = runner.prepare_input(data, "binary")
    assert set(np.unique(binary.toarray())) <= {0.0, 1.0}


@pytest.mark.slow
def test_parallel_jobs_keep_the_job_order(runner):
    # Two fits at a time (--jobs 2): the records come back in the order of the jobs, each
    # with the same result as when the jobs run one after the other.
    kwargs = dict(sizes=[(300, 200)], seeds=2, cases=["size"],
                  methods=["SpectralCoclustering", "KMeans (tf-idf)"], warmup=False)
    serial = runner.run_simulated(**kwargs)
    parallel = runner.run_simulated(jobs=2, **kwargs)
    assert [(r["method"], r["seed"]) for r in parallel] == \
        [(r["method"], r["seed"]) for r in serial]
    for one, other in zip(serial, parallel):
        assert other["status"] == "ok", other["error"]
        assert other["nmi"] == pytest.approx(one["nmi"]) and other["peak_rss_mb"] > 0
    with pytest.raises(ValueError, match="isolate"):
        runner.run_simulated(jobs=2, isolate=False, **kwargs)


def test_headline_case_with_its_ceiling(runner):
    # The user guide's planted table comes from these cases: the block model's EM started
    # at the true partition recovers a clear diagonal case nearly whole.
    records = runner.run_simulated(sizes=[(300, 200)], shape=(300, 200), seeds=1,
                                   cases=["headline diagonal 4x4, +0.15"],
                                   methods=["ceiling"], isolate=False, warmup=False)
    assert [r["dataset"] for r in records] == ["headline diagonal 4x4, +0.15"]
    assert records[0]["status"] == "ok", records[0]["error"]
    assert records[0]["cari"] > 0.5
    spec = next(s for s in runner.simulated_datasets((300, 200), [])
                if s["name"] == "headline latent positions 3x3")
    X, rows, columns = runner.load_dataset(spec, seed=0)
    assert X.shape == (300, 200) and rows.shape == (300,) and columns.shape == (200,)
