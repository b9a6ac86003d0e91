"""The start of VariationalCoclustering: the model, its decoders at the data's marginals,
the pretraining of both sides and the warm-up of the per-cell model (``docs/model.rst``,
"Pretraining and initialisation"). The Gaussian-mixture start that follows the side
pretraining is in ``_start/mixtures.py``.
"""

import torch

from .._data.variational import gather, sampled_items
from .._nn.optimizer import Adam
from .._nn.vae import VariationalCoclusteringModule, vector_log_likelihood
from .._objective.variational_step import cell_estimates

# With init='spectral', the random part of the first layer is scaled by this.
SPECTRAL_RANDOM_SCALE = 0.05


def build_model(data, config, seed, device):
    """A fresh module, its first layers started from the spectral directions if asked.

    Parameters
    ----------
    data : VariationalData
    config : VariationalConfig
    seed : int
        Seeds the module's parameters (the global generator's state is kept).
    device : torch.device

    Returns
    -------
    model : VariationalCoclusteringModule
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VariationalCoclusteringModule(
            data.rows.n_vectors, data.columns.n_vectors, config.side_clusters("row"),
            config.side_clusters("column"), config.n_cell_clusters, config.latent_dim,
            config.cell_latent_dim, config.hidden_dim)
    for side, directions in (("row", data.row_spectral), ("column", data.column_spectral)):
        if directions is not None and directions.shape[1]:
            weight = model.side(side).encoder.first.weight.weight
            with torch.no_grad():
                # The random part starts small, so the spectral coordinates dominate.
                weight.mul_(SPECTRAL_RANDOM_SCALE)
                weight[:, :directions.shape[1]] = torch.as_tensor(directions)
                model.side(side).encoder.first.bias.zero_()
            model.side(side).encoder.start_from_first_layer(directions.shape[1])
    start_decoder_offsets(model, data)
    return model.to(device)


def start_decoder_offsets(model, data):
    """Start every decoder at the data's marginals.

    The output bias of item j is the link of item j's mean (its column mean for the row
    decoder, its row mean for the column decoder), the cell decoder's the link of the
    matrix mean. On sparse data the marginal logit is far from 0; started at 0, the
    decoders would spend their first Adam steps learning it, and their gradients through
    ``z`` meanwhile move the encoders away from the Gaussian-mixture start (measured:
    benchmarks/README.md).

    Parameters
    ----------
    model : VariationalCoclusteringModule
    data : VariationalData
    """
    with torch.no_grad():
        model.rows.decoder.output_bias.copy_(torch.as_tensor(data.row_item_eta))
        model.columns.decoder.output_bias.copy_(torch.as_tensor(data.column_item_eta))
        model.cells.decoder[-1].bias.fill_(data.cell_eta)


def pretrain_side(model, side, data_side, config, likelihood, generator, device, progress):
    """Autoencoder pretraining of one side (``z = mu(a)``).

    With ``init='spectral'`` only the decoder learns: the encoder stays at its spectral
    start, whose latent means carry the clusters (the embedding spectral co-clustering
    clusters), so the Gaussian-mixture start is fitted on them. Adam's steps, about
    ``learning_rate`` per weight against spectral weights of a few hundredths, would
    overwrite them (measured: benchmarks/README.md). With ``init='random'`` the encoder
    and the decoder learn together.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    side : {'row', 'column'}
    data_side : SideData
    config : VariationalConfig
    likelihood : Likelihood
    generator : torch.Generator
    device : torch.device
    progress : Progress

    Returns
    -------
    history : list of float
        Each epoch's log-likelihood per cell.
    """
    vae = model.side(side)
    parameters = list(vae.decoder.parameters())
    if config.init != "spectral":
        parameters += list(vae.encoder.parameters())
    optimizer = Adam(parameters, config.learning_rate)
    history = []
    n = data_side.n_vectors
    for epoch in range(config.pretrain_epochs):
        total = 0.0
        for ids in torch.randperm(n, generator=generator, device=device).split(config.batch_size):
            batch = gather(data_side, ids)
            mean, _ = vae.encoder(batch)
            items = sampled_items(data_side, config.n_sampled_items, batch, generator, device)
            log_lik = vector_log_likelihood(vae.decoder, likelihood, mean.unsqueeze(0), batch,
                                            items, data_side.n_items)
            loss = -log_lik.sum() / (n * data_side.n_items) * (n / ids.numel())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(log_lik.detach().sum())
        history.append(total / (n * data_side.n_items))
        progress.update(f"pretrain {side}s", epoch, history[-1])
    return history


def pretrain_cells(model, ctx, progress):
    """Warm up the per-cell model alone, the side encoders fixed.

    The joint cell bound counts every cell of the matrix, so while the cell model is still
    at its random start its gradients through ``z_i`` and ``z_j`` outweigh the side terms
    and drag the side latents away from their Gaussian-mixture start (measured:
    benchmarks/README.md). Trained first with the side latents held fixed, it starts the
    joint phase near its own optimum. The joint loop runs it (its ``CellWarmUp`` callback)
    when the objective has a cell term.

    Parameters
    ----------
    model : VariationalCoclusteringModule
    ctx : StepContext
    progress : Progress

    Returns
    -------
    history : list of float
        Each epoch's weighted cell terms per cell.
    """
    config, data = ctx.config, ctx.data
    optimizer = Adam(model.cells.parameters(), config.learning_rate)
    n_rows, n_cells = data.rows.n_vectors, data.rows.n_vectors * data.rows.n_items
    history = []
    for epoch in range(config.pretrain_epochs):
        total = 0.0
        for row_ids in torch.randperm(n_rows, generator=ctx.generator,
                                      device=ctx.device).split(config.batch_size):
            row_batch = gather(data.rows, row_ids)
            with torch.no_grad():
                mean, log_var = model.rows.encoder(row_batch)
                eps = torch.randn(mean.shape, generator=ctx.generator, device=ctx.device)
                z_rows = mean + (0.5 * log_var).exp() * eps
            bound, contrast = cell_estimates(model, ctx, row_ids, row_batch, z_rows,
                                             config.cell_weight > 0,
                                             config.cell_contrast_weight > 0, fixed_sides=True)
            objective = 0.0
            if bound is not None:
                objective = objective + config.cell_weight * bound * (n_rows / row_ids.numel())
            if contrast is not None:
                objective = objective + config.cell_contrast_weight * contrast * data.n_nonzero
            if not torch.is_tensor(objective):
                continue
            optimizer.zero_grad()
            (-objective / n_cells).backward()
            optimizer.step()
            total += float(objective.detach()) * row_ids.numel() / n_rows
        history.append(total / n_cells)
        progress.update("pretrain cells", epoch, history[-1])
    return history
