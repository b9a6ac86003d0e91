"""Progress reporting controlled by ``verbose`` (0: silent), and the clock of a fit's stages.

``verbose=0`` prints nothing. ``verbose>=1`` prints one line per restart to stdout and, when
tqdm is importable (``pip install skcocluster[progress]``), shows a progress bar per training
phase on stderr with the current objective per cell as its postfix. Without tqdm,
``verbose>=2`` prints the objective every ``REPORT_EVERY`` epochs instead; with tqdm it
prints those lines too, above the bar.
"""

import sys
import time
from contextlib import contextmanager

# With verbose >= 2, one line every this many epochs.
REPORT_EVERY = 50


def _tqdm_class():
    """tqdm's progress-bar class, or None when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Reports restarts (verbose >= 1), a bar per phase (tqdm) and periodic epochs (verbose >= 2).

    Parameters
    ----------
    verbose : int
        0: silent. 1: a line per restart on stdout, and a tqdm bar per phase on stderr
        when tqdm is installed. 2: also a line every ``REPORT_EVERY`` epochs on stdout.
    n_restarts : int
        Number of restarts, for the "restart r/n" lines.
    phase_totals : dict of str to int, optional
        Number of epochs of each phase (e.g. ``{"pretrain": 200, "train": 300}``), the
        length of its bar; a phase not listed gets a bar that counts without a total.
    use_tqdm : bool, optional
        Force (True) or forbid (False) the bars; by default they are shown when tqdm is
        importable. True without tqdm falls back to the plain lines.
    """

    def __init__(self, verbose, n_restarts, *, phase_totals=None, use_tqdm=None):
        self.verbose = int(verbose)
        self.n_restarts = n_restarts
        self.phase_totals = dict(phase_totals or {})
        self._tqdm = None
        if self.verbose >= 1 and use_tqdm is not False:
            self._tqdm = _tqdm_class()
        self._restart = 0
        self._bar = None
        self._phase = None

    def _print(self, message):
        """A line on stdout, written above any open bar."""
        if self._bar is not None:
            self._tqdm.write(message, file=sys.stdout)
            sys.stdout.flush()
        else:
            print(message, file=sys.stdout, flush=True)

    def _close_bar(self):
        """Close the open bar, if any."""
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._phase = None

    def _open_bar(self, phase):
        """Open the bar of a phase (closing the previous one)."""
        self._close_bar()
        self._phase = phase
        self._bar = self._tqdm(
            total=self.phase_totals.get(phase),
            desc=f"restart {self._restart + 1}/{self.n_restarts} {phase}",
            unit="epoch", file=sys.stderr, leave=True, dynamic_ncols=True)

    def start_restart(self, restart, init):
        """Announce a restart."""
        self._restart = restart
        if self.verbose >= 1:
            self._close_bar()
            self._print(f"restart {restart + 1}/{self.n_restarts} ({init} start)")

    def update(self, phase, epoch, value):
        """Report one epoch's objective (per cell)."""
        if self.verbose < 1:
            return
        if self._tqdm is not None:
            if phase != self._phase:
                self._open_bar(phase)
            self._bar.set_postfix_str(f"objective {value:.5f}", refresh=False)
            self._bar.update(1)
        if self.verbose >= 2 and (epoch + 1) % REPORT_EVERY == 0:
            self._print(f"  {phase} epoch {epoch + 1}: objective per cell {value:.6f}")

    def end_restart(self, fit):
        """Report a finished restart."""
        if self.verbose >= 1:
            self._close_bar()
            state = "converged" if fit.converged else "not converged"
            self._print(f"  ELBO per cell {fit.lower_bound:.6f} after {fit.n_iter} epochs "
                        f"({state}, {fit.seconds:.1f} s)")


class StageClock:
    """Wall seconds spent in named stages of a fit, summed over their visits.

    What ``benchmarks/speed.py`` reads (the estimators keep it as ``_stage_seconds``) to
    show where the time of a fit goes.
    """

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def stage(self, name):
        """Count the time of the ``with`` block towards stage ``name``.

        Parameters
        ----------
        name : str
        """
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def add(self, seconds):
        """Add the stages of another clock's ``seconds`` (a dict) to these."""
        for name, value in seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + value
