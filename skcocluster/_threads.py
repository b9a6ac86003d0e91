"""How many threads a fit or a prediction computes with (the ``n_jobs`` parameter).

torch sizes its thread pool to every core of the machine by default. Beside any other
busy process (a second fit, a test runner, a browser) the threads of such a pool wait for
each other at every operation, and a fit becomes several times slower than with one
thread. The estimators therefore compute with ``n_jobs`` threads, by scikit-learn's
convention: None is one thread (unless a ``joblib.parallel_config`` context says
otherwise), -1 every core. BLAS and OpenMP (scipy's SVD, k-means) follow the same limit.
"""

import functools
import numbers

import torch
from joblib import effective_n_jobs
from threadpoolctl import threadpool_limits


def n_threads(n_jobs):
    """The number of threads for an ``n_jobs`` value (None: 1; -1: every core).

    A value that is not an int is left to the estimator's parameter validation (which
    ``fit`` runs inside the thread limit): one thread until it refuses it.
    """
    if n_jobs is not None and (isinstance(n_jobs, bool)
                               or not isinstance(n_jobs, numbers.Integral)):
        return 1
    if n_jobs == 0:
        raise ValueError("n_jobs=0 asks for no thread; use None (one thread), a positive "
                         "number of threads or -1 (every core).")
    return max(1, int(effective_n_jobs(n_jobs)))


def limits_threads(method):
    """Decorate an estimator method so that it computes with ``self.n_jobs`` threads.

    torch's and BLAS's thread counts are restored when the method returns, so the
    caller's settings outside the estimator are left as they were.
    """
    @functools.wraps(method)
    def with_thread_limit(self, *args, **kwargs):
        threads = n_threads(getattr(self, "n_jobs", None))
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with threadpool_limits(limits=threads):
                return method(self, *args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    return with_thread_limit
