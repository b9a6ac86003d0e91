"""Progress reporting controlled by ``verbose`` (0: silent)."""

import sys

# With verbose >= 2, one line every this many epochs.
REPORT_EVERY = 50


class Progress:
    """Prints restarts (verbose >= 1) and periodic epochs (verbose >= 2) to stdout.

    Parameters
    ----------
    verbose : int
    n_restarts : int
    """

    def __init__(self, verbose, n_restarts):
        self.verbose = int(verbose)
        self.n_restarts = n_restarts

    def _print(self, message):
        print(message, file=sys.stdout, flush=True)

    def start_restart(self, restart, init):
        """Announce a restart."""
        if self.verbose >= 1:
            self._print(f"restart {restart + 1}/{self.n_restarts} ({init} start)")

    def update(self, phase, epoch, value):
        """Report one epoch's objective (per cell)."""
        if self.verbose >= 2 and (epoch + 1) % REPORT_EVERY == 0:
            self._print(f"  {phase} epoch {epoch + 1}: objective per cell {value:.6f}")

    def end_restart(self, fit):
        """Report a finished restart."""
        if self.verbose >= 1:
            state = "converged" if fit.converged else "not converged"
            self._print(f"  ELBO per cell {fit.lower_bound:.6f} after {fit.n_iter} epochs "
                        f"({state}, {fit.seconds:.1f} s)")
