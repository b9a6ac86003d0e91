"""Cell likelihoods of the latent-position decoder, in the split form that sparse data needs.

For each likelihood the log-density of a cell with decoder output ``eta`` is written as::

    log p(A_ij | eta_ij) = A_ij * eta_ij * nonzero_scale + all_cells(eta_ij) + const(A_ij)

so the sum over the matrix is a sum over the nonzeros (``A * eta``) plus a sum over all
cells that does not depend on the data (computed in chunks or from sampled cells).

- Bernoulli: ``eta`` is the logit; ``all_cells = -softplus(eta)``.
- Poisson: ``eta`` is the log-rate; ``all_cells = -exp(eta)``; ``const = -log(A!)``.
- Gaussian: ``eta`` is the mean, with one noise variance ``v`` for the whole matrix;
  ``nonzero_scale = 1 / v``, ``all_cells = -eta^2 / (2 v) - log(2 pi v) / 2``,
  ``const = -A^2 / (2 v)``.
"""

import math

import torch
from torch.nn import functional as F

# Poisson log-rates are clamped here before exp, so a far-off start cannot overflow.
MAX_LOG_RATE = 30.0


class Bernoulli:
    """Binary (or [0, 1]-valued) cells: ``eta`` is the logit of the link probability."""

    name = "bernoulli"
    nonzero_scale = 1.0

    @staticmethod
    def all_cells(eta):
        """Per-cell data-free part of the log-likelihood."""
        return -F.softplus(eta)

    @staticmethod
    def all_cells_grad(eta):
        """Derivative of :meth:`all_cells` with respect to ``eta``."""
        return -torch.sigmoid(eta)

    @staticmethod
    def constant(cells):
        """Sum over cells of the part of the log-likelihood free of ``eta``."""
        return 0.0

    @staticmethod
    def expected(eta):
        """Expected cell value given ``eta``."""
        return torch.sigmoid(eta)

    @staticmethod
    def link(mean_value):
        """``eta`` whose expected value is ``mean_value`` (a float in (0, 1))."""
        return math.log(mean_value) - math.log1p(-mean_value)


class Poisson:
    """Non-negative cells (counts, or any non-negative weights as in KL-divergence NMF)."""

    name = "poisson"
    nonzero_scale = 1.0

    @staticmethod
    def all_cells(eta):
        return -torch.exp(eta.clamp(max=MAX_LOG_RATE))

    @staticmethod
    def all_cells_grad(eta):
        return -torch.exp(eta.clamp(max=MAX_LOG_RATE))

    @staticmethod
    def constant(cells):
        return -cells.log_factorial_total

    @staticmethod
    def expected(eta):
        return torch.exp(eta.clamp(max=MAX_LOG_RATE))

    @staticmethod
    def link(mean_value):
        return math.log(mean_value)


class Gaussian:
    """Real-valued cells with one noise variance for the whole matrix.

    Parameters
    ----------
    noise_var : float
        Variance of the cells around their means; refitted in closed form every epoch.
    """

    name = "gaussian"

    def __init__(self, noise_var=1.0):
        self.noise_var = float(noise_var)

    @property
    def nonzero_scale(self):
        """``1 / v``: the data enter the log-likelihood as ``A * eta / v``."""
        return 1.0 / self.noise_var

    def all_cells(self, eta):
        return -eta.pow(2) / (2 * self.noise_var) - 0.5 * math.log(2 * math.pi * self.noise_var)

    def all_cells_grad(self, eta):
        return -eta / self.noise_var

    def constant(self, cells):
        return -cells.squared_total / (2 * self.noise_var)

    @staticmethod
    def expected(eta):
        return eta

    @staticmethod
    def link(mean_value):
        return float(mean_value)


def make_likelihood(name, noise_var=1.0):
    """The likelihood object for a resolved likelihood name."""
    if name == "bernoulli":
        return Bernoulli()
    if name == "poisson":
        return Poisson()
    if name == "gaussian":
        return Gaussian(noise_var)
    raise ValueError(f"Unknown likelihood {name!r}.")
