"""The cell likelihoods: every formula that depends on the distribution of a cell.

Each class owns its mathematics, in torch for the deep models and in numpy for the block
models, so that no other module needs to know which likelihood it works with.

For the decoder's output ``eta`` the log-density of a cell is written in the split form
that sparse data needs::

    log p(A_ij | eta_ij) = A_ij * eta_ij * nonzero_scale + all_cells(eta_ij) + const(A_ij)

so the sum over the matrix is a sum over the nonzeros (``A * eta``) plus a sum over all
cells that does not depend on the data (computed in chunks or from sampled cells).

- Bernoulli: ``eta`` is the logit; ``all_cells = -softplus(eta)``.
- Poisson: ``eta`` is the log-rate; ``all_cells = -exp(eta)``; ``const = -log(A!)``.
- Gaussian: ``eta`` is the mean, with one noise variance ``v`` for the whole matrix;
  ``nonzero_scale = 1 / v``, ``all_cells = -eta^2 / (2 v) - log(2 pi v) / 2``,
  ``const = -A^2 / (2 v)``.

All three are exponential families in the cell value. A block of the latent block model
with mean ``B`` has natural parameter ``theta`` and cumulant ``psi`` (Bernoulli:
``logit(B)``, ``-log(1 - B)``; Poisson: ``log(B)``, ``B``; Gaussian: ``B / v``,
``B^2 / (2 v)``), so a row's log-likelihood under a row cluster is linear in its cells.
"""

import math

import numpy as np
import torch
from torch.nn import functional as F

NAMES = ("bernoulli", "poisson", "gaussian")
# Poisson log-rates are clamped here before exp, so a far-off start cannot overflow.
MAX_LOG_RATE = 30.0
# Block means (rates) are kept inside [EPS, 1 - EPS] (above EPS) so that logs stay finite.
EPS = 1e-6
# Newton's method for the offset of a new row (:meth:`Likelihood.row_offsets`).
NEWTON_STEPS = 25
# Largest Newton step, in units of the decoder output (a guard for far-off starts).
MAX_NEWTON_STEP = 5.0


class Likelihood:
    """What every likelihood provides (see the module docstring for the split form).

    Attributes
    ----------
    name : str
        The value of the estimators' ``likelihood`` parameter.
    non_negative : bool
        Whether the cells are non-negative, so that the degree-corrected Poisson block
        model (rows and columns of their own totals) applies.
    real_valued : bool
        Whether the cells are real values, whose row and column sums carry no degree.
    has_noise_variance : bool
        Whether the likelihood has a noise variance, fitted in closed form.
    binary : bool
        Whether a cell is 0 or 1 (at most one event), rather than a count or a real value.
    """

    name = None
    binary = False
    non_negative = True
    real_valued = False
    has_noise_variance = False
    nonzero_scale = 1.0

    # -------------------------------------------------------------- the input's values
    def check_values(self, low, high, estimator_name):
        """Raise a ValueError naming the problem when values in ``[low, high]`` do not suit."""

    # -------------------------------------------------------------- torch, decoder side
    def all_cells(self, eta):
        """Per-cell data-free part of the log-likelihood."""
        raise NotImplementedError

    def all_cells_grad(self, eta):
        """Derivative of :meth:`all_cells` with respect to ``eta``."""
        raise NotImplementedError

    def constant(self, cells):
        """Sum over the cells of a ``CellData`` of the part free of ``eta``."""
        return 0.0

    def cell_constant(self, values):
        """The part of each cell's log-likelihood free of ``eta`` (0 for a zero cell)."""
        return torch.zeros_like(values)

    def cell_log_likelihood(self, values, eta):
        """Per-cell log-likelihood, constants included."""
        return (values * eta * self.nonzero_scale + self.all_cells(eta)
                + self.cell_constant(values))

    def expected(self, eta):
        """Expected cell value given ``eta``."""
        raise NotImplementedError

    def mean_and_curvature(self, eta):
        """Expected value of each cell and the curvature weight (variance) at ``eta``."""
        raise NotImplementedError

    def link(self, mean_value):
        """``eta`` whose expected value is ``mean_value`` (a float)."""
        raise NotImplementedError

    def clip_means(self, mean_values, n_cells):
        """Mean values moved into the range where :meth:`link` is finite."""
        return mean_values

    def initial_eta(self, mean_values, n_cells):
        """Decoder outputs whose expected values are ``mean_values``, kept finite.

        Means are clipped first (Bernoulli into ``[0.5 / n, 1 - 0.5 / n]``, Poisson above
        ``0.5 / n``), so empty rows and columns get a large negative, finite output.
        """
        mean_values = self.clip_means(np.asarray(mean_values, dtype=np.float64), n_cells)
        return np.vectorize(self.link, otypes=[np.float64])(mean_values)

    # -------------------------------------------------------------- new rows' offsets
    def clip_totals(self, totals, n_cols):
        """Row totals moved into the range whose maximum-likelihood offset is finite."""
        return totals

    def row_offsets(self, totals, base):
        """Maximum-likelihood offsets ``a`` of rows: ``sum_j E[A_ij] = totals_i`` at
        ``eta_ij = base_ij + a_i``.

        The objective is concave in ``a`` (its curvature is minus the sum of the cells'
        variances), so Newton's method converges from the Poisson closed form
        ``log(total) - log sum_j exp(base_j)``, which is exact for Poisson.

        Parameters
        ----------
        totals : Tensor of shape (n,)
            Clipped totals (:meth:`clip_totals`).
        base : Tensor of shape (n, P)
            The decoder output without the row offset.

        Returns
        -------
        offsets : Tensor of shape (n,)
        """
        offset = totals.log() - torch.logsumexp(base, 1)
        for _ in range(NEWTON_STEPS):
            mean, variance = self.mean_and_curvature(base + offset[:, None])
            step = (totals - mean.sum(1)) / variance.sum(1).clamp(min=1e-12)
            offset = offset + step.clamp(-MAX_NEWTON_STEP, MAX_NEWTON_STEP)
        return offset

    # -------------------------------------------------------------- numpy, block models
    def natural_parameters(self, block, noise_var=1.0):
        """Natural parameter and cumulant of each block mean, both of the block's shape."""
        raise NotImplementedError

    def moments(self, theta):
        """Mean, variance and cumulant of a cell as functions of its natural parameter."""
        raise NotImplementedError

    def natural_of_mean(self, mean_value):
        """Natural parameter of a cell of mean ``mean_value`` (a positive float)."""
        raise NotImplementedError

    def mean_log_likelihood(self, values, expected):
        """Mean log-likelihood of cells of the given values under the expected values."""
        raise NotImplementedError

    # -------------------------------------------------------------- planted data
    def check_block_params(self, block_params):
        """Raise a ValueError when block parameters are outside the likelihood's range."""

    def random_block_params(self, shape, rng):
        """Block parameters drawn at random (``make_lbm``'s default)."""
        raise NotImplementedError

    def sample_cells(self, cell_params, rng, noise_std):
        """Cells drawn with the given expected values (dense ndarray)."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    """Binary (or [0, 1]-valued) cells: ``eta`` is the logit of the link probability."""

    name = "bernoulli"
    binary = True

    def check_values(self, low, high, estimator_name):
        if low < 0 or high > 1:
            raise ValueError(
                f"{estimator_name} with likelihood='bernoulli' needs entries in [0, 1], but X "
                f"has values in [{low:g}, {high:g}]. Binarise a count matrix with (X > 0), "
                "scale it into [0, 1] (for example X / X.max()), or use "
                "likelihood='poisson' (counts) or 'gaussian' (real values).")

    def all_cells(self, eta):
        return -F.softplus(eta)

    def all_cells_grad(self, eta):
        return -torch.sigmoid(eta)

    def expected(self, eta):
        return torch.sigmoid(eta)

    def mean_and_curvature(self, eta):
        mean = self.expected(eta)
        return mean, mean * (1.0 - mean)

    def link(self, mean_value):
        return math.log(mean_value) - math.log1p(-mean_value)

    def clip_means(self, mean_values, n_cells):
        low = 0.5 / n_cells
        return np.clip(mean_values, low, 1.0 - low)

    def clip_totals(self, totals, n_cols):
        return np.clip(totals, 0.5, n_cols - 0.5)

    def natural_parameters(self, block, noise_var=1.0):
        block = np.clip(block, EPS, 1 - EPS)
        return np.log(block) - np.log1p(-block), -np.log1p(-block)

    def moments(self, theta):
        mean = 1.0 / (1.0 + np.exp(-theta))
        return mean, mean * (1.0 - mean), np.logaddexp(0.0, theta)

    def natural_of_mean(self, mean_value):
        mean_value = min(mean_value, 1 - EPS)
        return np.log(mean_value) - np.log1p(-mean_value)

    def mean_log_likelihood(self, values, expected):
        p = np.clip(expected, EPS, 1 - EPS)
        return float(np.mean(values * np.log(p) + (1 - values) * np.log1p(-p)))

    def check_block_params(self, block_params):
        if np.any((block_params < 0) | (block_params > 1)):
            raise ValueError(
                "block_params must be probabilities in [0, 1] for likelihood='bernoulli'.")

    def random_block_params(self, shape, rng):
        return rng.uniform(0.05, 0.6, size=shape)

    def sample_cells(self, cell_params, rng, noise_std):
        probabilities = np.minimum(cell_params, 1.0)
        return (rng.random_sample(cell_params.shape) < probabilities).astype(np.float64)


class Poisson(Likelihood):
    """Non-negative cells (counts, or any non-negative weights as in KL-divergence NMF)."""

    name = "poisson"

    def check_values(self, low, high, estimator_name):
        if low < 0:
            raise ValueError(
                f"{estimator_name} with likelihood='poisson' needs non-negative entries, but "
                f"X has values down to {low:g}. Use likelihood='gaussian' for real-valued "
                "data.")

    def all_cells(self, eta):
        return -torch.exp(eta.clamp(max=MAX_LOG_RATE))

    def all_cells_grad(self, eta):
        return -torch.exp(eta.clamp(max=MAX_LOG_RATE))

    def constant(self, cells):
        return -cells.log_factorial_total

    def cell_constant(self, values):
        return -torch.lgamma(values + 1.0)

    def expected(self, eta):
        return torch.exp(eta.clamp(max=MAX_LOG_RATE))

    def mean_and_curvature(self, eta):
        mean = self.expected(eta)
        return mean, mean

    def link(self, mean_value):
        return math.log(mean_value)

    def clip_means(self, mean_values, n_cells):
        return np.maximum(mean_values, 0.5 / n_cells)

    def clip_totals(self, totals, n_cols):
        return np.maximum(totals, 0.5)

    def natural_parameters(self, block, noise_var=1.0):
        block = np.maximum(block, EPS)
        return np.log(block), block

    def moments(self, theta):
        mean = np.exp(theta)
        return mean, mean, mean

    def natural_of_mean(self, mean_value):
        return np.log(mean_value)

    def mean_log_likelihood(self, values, expected):
        rate = np.maximum(expected, EPS)
        return float(np.mean(values * np.log(rate) - rate))

    def check_block_params(self, block_params):
        if np.any(block_params < 0):
            raise ValueError("block_params must be non-negative rates for likelihood='poisson'.")

    def random_block_params(self, shape, rng):
        # Gamma(shape=2, scale=0.5): mean 1, variance 0.5, rarely near 0.
        return rng.gamma(2.0, 0.5, size=shape)

    def sample_cells(self, cell_params, rng, noise_std):
        return rng.poisson(cell_params).astype(np.float64)


class Gaussian(Likelihood):
    """Real-valued cells with one noise variance for the whole matrix.

    Parameters
    ----------
    noise_var : float
        Variance of the cells around their means; refitted in closed form every epoch.
    """

    name = "gaussian"
    non_negative = False
    real_valued = True
    has_noise_variance = True

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

    def cell_constant(self, values):
        return -values.pow(2) / (2.0 * self.noise_var)

    def expected(self, eta):
        return eta

    def mean_and_curvature(self, eta):
        return eta, torch.ones_like(eta)

    def link(self, mean_value):
        return float(mean_value)

    def row_offsets(self, totals, base):
        """Closed form: the offset that makes the row's fitted total its own."""
        return (totals - base.sum(1)) / base.shape[1]

    def natural_parameters(self, block, noise_var=1.0):
        return block / noise_var, np.square(block) / (2 * noise_var)

    def mean_log_likelihood(self, values, expected):
        residual = np.mean(np.square(values - expected))
        return float(-0.5 * np.log(2 * np.pi * max(residual, EPS)) - 0.5)

    def random_block_params(self, shape, rng):
        return rng.standard_normal(size=shape)

    def sample_cells(self, cell_params, rng, noise_std):
        return cell_params + noise_std * rng.standard_normal(cell_params.shape)


_CLASSES = {"bernoulli": Bernoulli, "poisson": Poisson, "gaussian": Gaussian}


def make_likelihood(name, noise_var=1.0):
    """The likelihood object for a resolved likelihood name.

    Parameters
    ----------
    name : {'bernoulli', 'poisson', 'gaussian'}
    noise_var : float, default=1.0
        The Gaussian likelihood's starting noise variance (ignored by the others).

    Returns
    -------
    likelihood : Likelihood
    """
    if name not in _CLASSES:
        raise ValueError(f"Unknown likelihood {name!r}; expected one of {NAMES}.")
    if name == "gaussian":
        return Gaussian(noise_var)
    return _CLASSES[name]()


def as_likelihood(likelihood):
    """A likelihood object from an object or a name (the numpy functions take both)."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    return make_likelihood(likelihood)


def resolve_likelihood(csr, likelihood):
    """The likelihood ``'auto'`` stands for, given the data.

    Binary data (every stored value is 1) → ``'bernoulli'``; other non-negative data →
    ``'poisson'``; data with negative values → ``'gaussian'``. Other names pass through.
    """
    if likelihood != "auto":
        return likelihood
    values = csr.data
    if values.size == 0 or np.all(values == 1):
        return "bernoulli"
    if values.min() >= 0:
        return "poisson"
    return "gaussian"
