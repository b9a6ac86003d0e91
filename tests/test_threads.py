"""The ``n_jobs`` thread limit: what a fit computes with, and what it leaves behind."""

import warnings

import numpy as np
import pytest
import torch
from joblib import parallel_config
from threadpoolctl import threadpool_info

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster._threads import limits_threads, n_threads
from skcocluster.datasets import make_lbm


class _Probe:
    """Records the thread counts seen inside a decorated method."""

    def __init__(self, n_jobs):
        self.n_jobs = n_jobs

    @limits_threads
    def run(self):
        blas = [info["num_threads"] for info in threadpool_info()]
        return torch.get_num_threads(), blas


def test_none_means_one_thread_and_minus_one_every_core():
    assert n_threads(None) == 1
    assert n_threads(1) == 1
    assert n_threads(-1) >= 1
    with parallel_config(n_jobs=2):
        assert n_threads(None) == 2


@pytest.mark.parametrize("n_jobs, expected", [(None, 1), (1, 1), (2, 2)])
def test_the_method_computes_with_n_jobs_threads_and_restores_them(n_jobs, expected):
    before = torch.get_num_threads()
    torch_threads, blas_threads = _Probe(n_jobs).run()
    assert torch_threads == expected
    assert all(count == expected for count in blas_threads)
    assert torch.get_num_threads() == before


def test_threads_are_restored_when_the_method_raises():
    class Failing(_Probe):
        @limits_threads
        def run(self):
            raise RuntimeError("inside")

    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="inside"):
            Failing(1).run()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


@pytest.mark.parametrize("estimator", [
    DeepLatentBlockCoclustering(2, pretrain_epochs=5, max_iter=5, random_state=0),
    VariationalCoclustering(2, pretrain_epochs=2, max_iter=2, random_state=0)])
def test_a_fit_leaves_the_callers_thread_count_and_matches_one_thread(estimator):
    X, _, _ = make_lbm(60, 40, 2, random_state=0)
    torch.set_num_threads(2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the short fits do not converge
            default = estimator.fit(X).row_labels_.copy()
            assert torch.get_num_threads() == 2
            one = estimator.set_params(n_jobs=1).fit(X).row_labels_
    finally:
        torch.set_num_threads(1)
        estimator.set_params(n_jobs=None)
    np.testing.assert_array_equal(default, one)


def test_a_bad_n_jobs_gets_a_clear_error():
    X, _, _ = make_lbm(30, 20, 2, random_state=0)
    with pytest.raises(ValueError, match="n_jobs"):
        DeepLatentBlockCoclustering(2, n_jobs="four").fit(X)
    with pytest.raises(ValueError, match="n_jobs=0"):
        DeepLatentBlockCoclustering(2, n_jobs=0).fit(X)
