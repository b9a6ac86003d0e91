"""Torch modules of VariationalCoclustering: the side GMM-VAE and the per-cell joint model.

``docs/model.rst``, "The variational model", gives the mathematics. Nothing here sees numpy,
scipy or sklearn: the training code hands over tensors (a batch of sparse vectors as flat
``indices``, ``offsets`` and ``values``, as :class:`torch.nn.EmbeddingBag` takes them: a
``skcocluster._data.variational.SparseBatch``).

Rows and columns use the same :class:`SideVAE` (rows are the computation on ``A``, columns
the same on ``A^T``). The importance-weighted bound with its two encoder gradients (DReG
and the plain IWAE gradient) is one function, :func:`importance_weighted_bound`, used by
both sides and by the cells.
"""

import math
import torch
from torch import nn
from torch.nn import functional as F

from .heads import ClusteringHead

LOG_2PI = math.log(2.0 * math.pi)
# Log-variances of the encoders and of the mixture components are kept in this range so
# that a far-off step cannot produce an infinite or zero variance.
LOG_VAR_MIN, LOG_VAR_MAX = -10.0, 6.0


def diagonal_normal_log_density(x, mean, log_var):
    """Log-density of ``N(mean, diag exp(log_var))`` at ``x``, summed over the last axis."""
    return -0.5 * (LOG_2PI + log_var + (x - mean).pow(2) / log_var.exp()).sum(-1)


def diagonal_normal_log_densities(x, means, log_vars):
    """Log-density of every component ``N(means[k], diag exp(log_vars[k]))`` at ``x``.

    The same values as ``diagonal_normal_log_density(x.unsqueeze(-2), means, log_vars)``,
    without its ``x.shape[:-1] + (K, D)`` intermediate: the square is expanded,
    ``sum_d (x - m)^2 / s^2 = x^2 . s^-2 - 2 x . m s^-2 + m^2 . s^-2``, so that the whole
    density is one matrix product of ``[x^2, x, 1]`` with a ``(2 D + 1, K)`` matrix. With
    the cells' ``L x Q`` components the intermediate dominated the cost of a fit.

    Parameters
    ----------
    x : Tensor of shape (..., D)
    means, log_vars : Tensor of shape (K, D)

    Returns
    -------
    log_densities : Tensor of shape (..., K), of ``x``'s dtype
    """
    dtype = x.dtype
    # The expanded terms cancel where a component is narrow (s^-2 up to e^10): summed in
    # single precision they would lose a few digits, so the product is taken in double.
    x, means, log_vars = x.double(), means.double(), log_vars.double()
    precisions = torch.exp(-log_vars)
    constants = (LOG_2PI + log_vars + means.pow(2) * precisions).sum(-1, keepdim=True)
    coefficients = -0.5 * torch.cat([precisions, -2.0 * means * precisions, constants], -1)
    features = torch.cat([x.pow(2), x, torch.ones_like(x[..., :1])], -1)
    return (features @ coefficients.T).to(dtype)


class LearntMixture(ClusteringHead):
    """``p(z) = sum_k pi_k N(z; m_k, diag s_k^2)`` with every parameter learnt by gradient.

    The prior of a side's latent in the variational model, and its clustering head
    (unlike the deep latent block model's mixture, whose parameters are set in closed
    form).

    Parameters
    ----------
    n_components : int
    latent_dim : int
    """

    def __init__(self, n_components, latent_dim):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.means = nn.Parameter(torch.randn(n_components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(n_components, latent_dim))

    def set_parameters(self, weights, means, variances):
        """Start from a fitted mixture (e.g. sklearn's GaussianMixture on latent means)."""
        with torch.no_grad():
            self.logits.copy_(torch.as_tensor(weights).clamp(min=1e-6).log())
            self.means.copy_(torch.as_tensor(means))
            self.log_vars.copy_(torch.as_tensor(variances).log().clamp(LOG_VAR_MIN,
                                                                        LOG_VAR_MAX))

    def component_log_densities(self, z):
        """``log pi_k + log N(z; m_k, s_k^2)``, shape ``z.shape[:-1] + (K,)``."""
        log_vars = self.log_vars.clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        return (F.log_softmax(self.logits, 0)
                + diagonal_normal_log_densities(z, self.means, log_vars))

    def log_prob(self, z):
        """``log p(z)``, exactly (a logsumexp over the components)."""
        return torch.logsumexp(self.component_log_densities(z), -1)

    def responsibilities(self, z):
        """``p(k | z)``, shape ``z.shape[:-1] + (K,)``."""
        return torch.softmax(self.component_log_densities(z), -1)

    def memberships(self, mean, log_var=None):
        """``p(k | z = mean)``: the head's memberships (``log_var`` is not used).

        Parameters
        ----------
        mean : Tensor of shape (n, D)
        log_var : Tensor, optional

        Returns
        -------
        memberships : Tensor of shape (n, K)
        """
        return self.responsibilities(mean)

    def reorder(self, order):
        """Permute the components (used to pair row and column clusters).

        Parameters
        ----------
        order : array-like of shape (K,)
            New component ``k`` is old component ``order[k]``.
        """
        index = torch.as_tensor(order)
        with torch.no_grad():
            for parameter in (self.logits, self.means, self.log_vars):
                parameter.copy_(parameter[index])


class LearntFacetMixture(ClusteringHead):
    """One side's priors with several facets: the latent is split into ``J`` consecutive
    blocks of ``facet_dim`` coordinates, each with its own Gaussian-mixture prior
    (MFCVAE, Falck et al. 2021): ``log p(z) = sum_j log p_j(z^j)``.

    The methods and attributes of :class:`LearntMixture` that the single-partition
    code uses (``responsibilities``, ``reorder``, ``logits``, ``means``, ``log_vars``)
    refer to facet 1, so the reported partition, the mutual-information term and the graph
    term are facet 1's; :meth:`log_prob` covers every facet.

    Parameters
    ----------
    cluster_counts : sequence of int
        Components of each facet's mixture.
    facet_dim : int
    """

    def __init__(self, cluster_counts, facet_dim):
        super().__init__()
        self.facet_dim = int(facet_dim)
        self.facets = nn.ModuleList([LearntMixture(int(k), self.facet_dim)
                                     for k in cluster_counts])

    def block(self, z, facet):
        """Coordinates of facet ``facet`` (0-based): ``z[..., facet d:(facet + 1) d]``."""
        return z[..., facet * self.facet_dim:(facet + 1) * self.facet_dim]

    def log_prob(self, z):
        """``sum_j log p_j(z^j)``."""
        return sum(prior.log_prob(self.block(z, j)) for j, prior in enumerate(self.facets))

    def responsibilities(self, z):
        """Facet 1's ``p(k | z^1)``."""
        return self.facets[0].responsibilities(self.block(z, 0))

    def facet_responsibilities(self, z):
        """Every facet's memberships: a list of ``p_j(k | z^j)``."""
        return [prior.responsibilities(self.block(z, j)) for j, prior in enumerate(self.facets)]

    def memberships(self, mean, log_var=None):
        """Facet 1's ``p(k | z^1 = mean^1)``: the head's memberships (``log_var`` unused).

        Parameters
        ----------
        mean : Tensor of shape (n, n_facets * facet_dim)
        log_var : Tensor, optional

        Returns
        -------
        memberships : Tensor of shape (n, K_1)
        """
        return self.responsibilities(mean)

    def reorder(self, order):
        """Permute facet 1's components (used to pair its row and column clusters).

        Parameters
        ----------
        order : array-like of shape (K_1,)
        """
        self.facets[0].reorder(order)

    @property
    def logits(self):
        """Facet 1's mixture logits."""
        return self.facets[0].logits

    @property
    def means(self):
        """Facet 1's component means."""
        return self.facets[0].means

    @property
    def log_vars(self):
        """Facet 1's component log-variances."""
        return self.facets[0].log_vars


def side_prior(n_clusters, latent_dim):
    """A side's prior and clustering head.

    Parameters
    ----------
    n_clusters : int or sequence of int
        A sequence gives one count per facet, ``latent_dim`` coordinates each.
    latent_dim : int

    Returns
    -------
    prior : LearntMixture or LearntFacetMixture
    """
    if isinstance(n_clusters, (list, tuple)):
        return LearntFacetMixture(n_clusters, latent_dim)
    return LearntMixture(n_clusters, latent_dim)


def n_latent(n_clusters, latent_dim):
    """Coordinates of a side's latent: ``latent_dim`` per facet.

    Parameters
    ----------
    n_clusters : int or sequence of int
    latent_dim : int

    Returns
    -------
    n_coordinates : int
    """
    return latent_dim * (len(n_clusters) if isinstance(n_clusters, (list, tuple)) else 1)


class SparseLinear(nn.Module):
    """``x W + b`` for a batch of sparse vectors ``x`` (a sum-mode EmbeddingBag).

    Parameters
    ----------
    n_inputs : int
        Length of the sparse vectors (P for rows, M for columns).
    n_outputs : int
    """

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.weight = nn.EmbeddingBag(n_inputs, n_outputs, mode="sum")
        nn.init.normal_(self.weight.weight, std=1.0)
        self.bias = nn.Parameter(torch.zeros(n_outputs))

    def forward(self, batch):
        """``x W + b`` of each vector of a ``SparseBatch``, shape (n, n_outputs)."""
        out = self.weight(batch.indices, batch.offsets, per_sample_weights=batch.inputs)
        return out + self.bias


class SideEncoder(nn.Module):
    """``q(z | a) = N(mu(a), diag sigma^2(a))`` with a sparse first layer.

    The mean is an MLP of the first layer's output plus a linear skip from it, so that a
    spectral first layer (``init='spectral'``) reaches the latent space undistorted at the
    start: :meth:`start_from_first_layer` sets the skip to copy the first coordinates.
    """

    def __init__(self, n_inputs, hidden_dim, latent_dim):
        super().__init__()
        self.first = SparseLinear(n_inputs, hidden_dim)
        self.hidden = nn.Linear(hidden_dim, hidden_dim)
        self.mean = nn.Linear(hidden_dim, latent_dim)
        self.skip = nn.Linear(hidden_dim, latent_dim, bias=False)
        self.log_var = nn.Linear(hidden_dim, latent_dim)

    def start_from_first_layer(self, n_coordinates):
        """Make the mean start as the first ``n_coordinates`` outputs of the first layer."""
        n = min(n_coordinates, self.skip.out_features)
        with torch.no_grad():
            self.skip.weight.zero_()
            self.skip.weight[:n, :n] = torch.eye(n)
            self.mean.weight.mul_(0.01)
            self.mean.bias.zero_()

    def forward(self, batch):
        """Posterior means and log-variances, each of shape (n, latent_dim)."""
        return self.from_first_layer(self.first(batch))

    def from_first_layer(self, first):
        """Posterior means and log-variances from the first layer's outputs (n, hidden)."""
        hidden = F.elu(self.hidden(F.elu(first)))
        log_var = self.log_var(hidden).clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        return self.mean(hidden) + self.skip(first), log_var


class SideDecoder(nn.Module):
    """``p(a | z)``: an MLP to a hidden vector ``h(z)``, then ``eta_j = h(z) . V_j + c_j``.

    Writing the output layer as one embedding ``V_j`` per item lets the loss ask for the
    logits of the items it needs (the nonzeros and the sampled items) instead of all of them.
    """

    def __init__(self, latent_dim, hidden_dim, n_outputs):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ELU(),
                                    nn.Linear(hidden_dim, hidden_dim), nn.ELU())
        self.output = nn.Embedding(n_outputs, hidden_dim)
        nn.init.normal_(self.output.weight, std=hidden_dim ** -0.5)
        self.output_bias = nn.Parameter(torch.zeros(n_outputs))

    def logits_at(self, hidden, owner, items):
        """``eta`` of the listed (vector, item) pairs: shape ``hidden.shape[:-2] + (nnz,)``."""
        # index_select, not fancy indexing: its backward is an index_add, not a sort.
        return ((hidden.index_select(-2, owner) * self.output(items)).sum(-1)
                + self.output_bias[items])

    def logits_over(self, hidden, items):
        """``eta`` of every vector of the batch on ``items``: shape (..., n, len(items))."""
        return hidden @ self.output(items).T + self.output_bias[items]


def vector_log_likelihood(decoder, likelihood, z, batch, sampled_items, n_items):
    """``log p(a | z)`` of each vector of a batch, for every sample of ``z``.

    ``sampled_items`` is either every item in order (``arange(n_items)``: exact) or a
    uniform sample. The sum over all items of a vector is split as in ``_likelihoods.py``:
    ``sum_nonzero a * eta * scale + sum_all all_cells(eta) + const``. The sum over all
    items is exact when ``sampled_items`` covers them all and otherwise an unbiased estimate
    from the uniformly sampled items, scaled by ``n_items / len(sampled_items)``.

    Parameters
    ----------
    z : Tensor of shape (S, n, latent_dim)
    batch : SparseBatch
    sampled_items : LongTensor of shape (n_sampled,)
    n_items : int

    Returns
    -------
    log_lik : Tensor of shape (S, n)
    """
    hidden = decoder.hidden(z)
    eta_all = decoder.logits_over(hidden, sampled_items)
    if sampled_items.numel() == n_items:
        # All items in order (the exact case): the nonzeros' logits are already there.
        flat = batch.owner * n_items + batch.indices
        eta_nz = eta_all.flatten(-2).index_select(-1, flat)
    else:
        eta_nz = decoder.logits_at(hidden, batch.owner, batch.indices)
    data = torch.zeros(z.shape[:2], dtype=z.dtype, device=z.device)
    data = data.index_add(1, batch.owner, batch.values * eta_nz * likelihood.nonzero_scale)
    all_cells = likelihood.all_cells(eta_all).sum(-1) * (n_items / sampled_items.numel())
    constant = torch.zeros(z.shape[1], dtype=z.dtype, device=z.device)
    constant = constant.index_add(0, batch.owner, likelihood.cell_constant(batch.values))
    return data + all_cells + constant


def importance_weighted_bound(log_joint, mean, log_var, n_samples, gradient, generator):
    """IWAE bound ``log (1/S) sum_s w_s`` with the DReG or the plain encoder gradient.

    Parameters
    ----------
    log_joint : callable
        ``z -> log p(x, z)`` for samples ``z`` of shape (S, n, D); returns (S, n). It may
        depend on other tensors (a context) whose gradients flow pathwise.
    mean, log_var : Tensor of shape (n, D)
        Parameters of ``q(z | x)``; they depend on the encoder parameters ``phi``.
    n_samples : int
        S.
    gradient : {'dreg', 'iwae'}
        'iwae': the gradient of the bound itself (its ``phi`` part holds the score-function
        term of ``log q``). 'dreg' (Tucker et al., 2018): the ``phi`` gradient is replaced by
        ``sum_s w~_s^2 d log w_s / d z_s  d z_s / d phi`` with ``q``'s parameters stopped
        inside ``log q``; the gradients of everything else (decoder, prior, context) are
        those of the bound, as for 'iwae'.
    generator : torch.Generator

    Returns
    -------
    bound : Tensor of shape (n,)
        Its value is the bound; its gradient the chosen estimator.
    z : Tensor of shape (S, n, D)
        The reparameterised samples (differentiable in ``phi``).
    """
    eps = torch.randn((n_samples,) + tuple(mean.shape), generator=generator,
                      device=mean.device, dtype=mean.dtype)
    z = mean + (0.5 * log_var).exp() * eps
    if gradient == "iwae":
        log_w = log_joint(z) - diagonal_normal_log_density(z, mean, log_var)
        return torch.logsumexp(log_w, 0) - math.log(n_samples), z
    z_stopped = z.detach().requires_grad_(True)
    log_w = (log_joint(z_stopped)
             - diagonal_normal_log_density(z_stopped, mean.detach(), log_var.detach()))
    bound = torch.logsumexp(log_w, 0) - math.log(n_samples)
    if not mean.requires_grad:
        return bound, z
    grad_z, = torch.autograd.grad(log_w.sum(), z_stopped, retain_graph=True)
    weights = torch.softmax(log_w.detach(), 0)
    surrogate = ((weights.pow(2).unsqueeze(-1) * grad_z) * z).sum((0, 2))
    # Adds DReG's phi gradient, not its value.
    return bound + surrogate - surrogate.detach(), z


def info_nce(keys, latents, temperature):
    """``mean_i log( f(a_i, z_i) / mean_k f(a_i, z_k) )`` with ``f = exp(cos(g(a), z) / T)``.

    Parameters
    ----------
    keys : Tensor of shape (n, D)
        ``g(a_i)``, the critic's embedding of each observation.
    latents : Tensor of shape (n, D)
    temperature : float

    Returns
    -------
    nce : Tensor (scalar), at most ``log n``.
    """
    scores = F.normalize(keys, dim=-1) @ F.normalize(latents, dim=-1).T / temperature
    return (scores.diagonal() - torch.logsumexp(scores, 1)).mean() + math.log(scores.shape[0])


class SideVAE(nn.Module):
    """The GMM-VAE of one side: encoder, decoder, mixture prior and contrastive critic.

    Parameters
    ----------
    n_inputs : int
        Length of this side's vectors (P for rows, M for columns).
    n_clusters : int or list of int
        Components of the mixture prior; a list gives one mixture per facet
        (:class:`LearntFacetMixture`), each on its own block of ``latent_dim`` coordinates.
    latent_dim, hidden_dim : int
    """

    def __init__(self, n_inputs, n_clusters, latent_dim, hidden_dim):
        super().__init__()
        self.n_inputs = n_inputs
        self.latent_dim = n_latent(n_clusters, latent_dim)
        self.encoder = SideEncoder(n_inputs, hidden_dim, self.latent_dim)
        self.decoder = SideDecoder(self.latent_dim, hidden_dim, n_inputs)
        self.prior = side_prior(n_clusters, latent_dim)
        self.critic = SparseLinear(n_inputs, self.latent_dim)

    def bound(self, batch, likelihood, sampled_items, n_samples, gradient, generator):
        """Per-vector IWAE bound of the batch and the samples ``z`` (S, n, D)."""
        mean, log_var = self.encoder(batch)

        def log_joint(z):
            """``log p(a | z) + log p(z)`` of each sample, shape (S, n)."""
            return (vector_log_likelihood(self.decoder, likelihood, z, batch, sampled_items,
                                          self.n_inputs)
                    + self.prior.log_prob(z))

        return importance_weighted_bound(log_joint, mean, log_var, n_samples, gradient,
                                         generator)

    def contrast(self, batch, z, temperature):
        """InfoNCE between the observations of the batch and one sample of their latents."""
        return info_nce(self.critic(batch), z, temperature)

    def memberships(self, batch):
        """Cluster memberships ``p(l | z = mu(a))`` of shape (n, n_clusters)."""
        mean, _ = self.encoder(batch)
        return self.prior.responsibilities(mean)


class JointCellModel(nn.Module):
    """The per-cell latent ``w_ij``: encoder ``q(w | z_i, z_j)``, K-mixture prior, decoder
    ``p(a_ij | z_i, z_j, w_ij)`` and a cell-level contrastive critic.

    Parameters
    ----------
    row_dim, column_dim : int
        Dimensions of ``z_i`` and ``z_j``.
    cell_dim : int
        Dimension of ``w``.
    n_components : int
        K.
    hidden_dim : int
    """

    def __init__(self, row_dim, column_dim, cell_dim, n_components, hidden_dim):
        super().__init__()
        context = row_dim + column_dim
        self.encoder = nn.Sequential(nn.Linear(context, hidden_dim), nn.ELU())
        self.mean = nn.Linear(hidden_dim, cell_dim)
        self.log_var = nn.Linear(hidden_dim, cell_dim)
        self.prior = LearntMixture(n_components, cell_dim)
        self.decoder = nn.Sequential(nn.Linear(context + cell_dim, hidden_dim), nn.ELU(),
                                     nn.Linear(hidden_dim, 1))
        self.critic = nn.Sequential(nn.Linear(context + 1, hidden_dim), nn.ELU(),
                                    nn.Linear(hidden_dim, cell_dim))

    def encode(self, z_rows, z_columns):
        """Mean and log-variance of ``q(w | z_i, z_j)``, each (n_cells, cell_dim)."""
        hidden = self.encoder(torch.cat([z_rows, z_columns], -1))
        return self.mean(hidden), self.log_var(hidden).clamp(LOG_VAR_MIN, LOG_VAR_MAX)

    def logits(self, z_rows, z_columns, w):
        """``eta`` of each cell for samples ``w`` of shape (S, n_cells, cell_dim)."""
        context = torch.cat([z_rows, z_columns], -1).expand(w.shape[0], -1, -1)
        return self.decoder(torch.cat([context, w], -1)).squeeze(-1)

    def bound(self, z_rows, z_columns, values, likelihood, n_samples, gradient, generator):
        """Per-cell IWAE bound (n_cells,) and the samples ``w`` (S, n_cells, cell_dim)."""
        mean, log_var = self.encode(z_rows, z_columns)

        def log_joint(w):
            """``log p(a_ij | z_i, z_j, w) + log p(w)`` of each sample, shape (S, n_cells)."""
            eta = self.logits(z_rows, z_columns, w)
            return likelihood.cell_log_likelihood(values, eta) + self.prior.log_prob(w)

        return importance_weighted_bound(log_joint, mean, log_var, n_samples, gradient,
                                         generator)

    def contrast(self, z_rows, z_columns, values, w, temperature):
        """InfoNCE between each cell's observation ``(a_ij, z_i, z_j)`` and its ``w``."""
        keys = self.critic(torch.cat([z_rows, z_columns, values.unsqueeze(-1)], -1))
        return info_nce(keys, w, temperature)

    def memberships(self, z_rows, z_columns):
        """Cell memberships ``p(k | w = E[w | z_i, z_j])``, shape (n_cells, K)."""
        mean, _ = self.encode(z_rows, z_columns)
        return self.prior.responsibilities(mean)


def mutual_information(joint):
    """``I(p^) = sum_lq p^(l,q) log(p^(l,q) / (p^(l) p^(q)))`` of a (L, Q) table of masses.

    ``joint`` need not be normalised (it is divided by its sum); empty cells contribute 0.
    """
    joint = joint / joint.sum().clamp(min=1e-30)
    row = joint.sum(1, keepdim=True)
    column = joint.sum(0, keepdim=True)
    ratio = joint / (row * column).clamp(min=1e-30)
    return (joint * ratio.clamp(min=1e-30).log()).sum()


class VariationalCoclusteringModule(nn.Module):
    """The whole model: the row and column GMM-VAEs and the joint cell model.

    Parameters
    ----------
    n_rows, n_columns : int
        M and P.
    n_row_clusters, n_column_clusters : int or list of int
        L and Q; lists give one count per facet (:class:`SideVAE`).
    n_cell_clusters : int
        K.
    latent_dim, cell_latent_dim, hidden_dim : int
        ``latent_dim`` is per facet.
    """

    def __init__(self, n_rows, n_columns, n_row_clusters, n_column_clusters, n_cell_clusters,
                 latent_dim, cell_latent_dim, hidden_dim):
        super().__init__()
        self.rows = SideVAE(n_columns, n_row_clusters, latent_dim, hidden_dim)
        self.columns = SideVAE(n_rows, n_column_clusters, latent_dim, hidden_dim)
        self.cells = JointCellModel(self.rows.latent_dim, self.columns.latent_dim,
                                    cell_latent_dim, n_cell_clusters, hidden_dim)

    def side(self, name):
        """The :class:`SideVAE` of 'row' or 'column'."""
        return self.rows if name == "row" else self.columns
