"""Progress: silent at verbose=0, restart lines on stdout, tqdm bars on stderr when available."""

import sys
from types import SimpleNamespace

import pytest

from skcocluster._train import progress as _progress
from skcocluster._train.progress import REPORT_EVERY, Progress

FIT = SimpleNamespace(lower_bound=-0.5, n_iter=3, converged=True, seconds=0.25)


def run(progress, n_pretrain=4, n_train=3, n_restarts=1):
    for restart in range(n_restarts):
        progress.start_restart(restart, "spectral")
        for epoch in range(n_pretrain):
            progress.update("pretrain", epoch, -1.0 + epoch / 10)
        for epoch in range(n_train):
            progress.update("train", epoch, -0.75 + epoch / 100)
        progress.end_restart(FIT)


def test_verbose_0_is_silent(capsys):
    run(Progress(0, 1), n_pretrain=2 * REPORT_EVERY)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_plain_lines_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    run(Progress(1, 2), n_restarts=2)
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines == ["restart 1/2 (spectral start)",
                     "  ELBO per cell -0.500000 after 3 epochs (converged, 0.2 s)",
                     "restart 2/2 (spectral start)",
                     "  ELBO per cell -0.500000 after 3 epochs (converged, 0.2 s)"]


def test_verbose_2_reports_every_few_epochs_without_tqdm(capsys):
    run(Progress(2, 1, use_tqdm=False), n_pretrain=REPORT_EVERY, n_train=2 * REPORT_EVERY)
    out = capsys.readouterr().out
    assert f"pretrain epoch {REPORT_EVERY}: objective per cell" in out
    assert f"train epoch {2 * REPORT_EVERY}: objective per cell" in out
    assert out.count("epoch") == 3 + 1  # three periodic lines and the summary


def test_tqdm_bar_per_phase_with_the_objective(capsys):
    pytest.importorskip("tqdm")
    progress = Progress(1, 1, phase_totals={"pretrain": 4, "train": 10})
    run(progress, n_pretrain=4, n_train=3)
    captured = capsys.readouterr()
    # The restart lines stay on stdout (and only they do).
    assert captured.out.splitlines() == [
        "restart 1/1 (spectral start)",
        "  ELBO per cell -0.500000 after 3 epochs (converged, 0.2 s)"]
    # One bar per phase on stderr, with its total when known and the last objective.
    assert "restart 1/1 pretrain" in captured.err and "4/4" in captured.err
    assert "restart 1/1 train" in captured.err and "3/10" in captured.err
    assert "objective -0.73000" in captured.err
    assert progress._bar is None  # closed at the end of the restart


def test_tqdm_bar_without_totals_counts_epochs(capsys):
    pytest.importorskip("tqdm")
    run(Progress(1, 1), n_pretrain=5, n_train=0)
    err = capsys.readouterr().err
    assert "5epoch" in err.replace(" ", "")


def test_tqdm_is_not_imported_at_verbose_0(monkeypatch):
    monkeypatch.setattr(_progress, "_tqdm_class", lambda: pytest.fail("imported tqdm"))
    run(Progress(0, 1))
