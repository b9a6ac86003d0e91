"""Plots of a co-clustering: the reordered matrix, the latent space, the training curves.

matplotlib is optional (``pip install skcocluster[plot]``): it is imported when a function
is called, not when this module is. Every function draws on the given Axes (or on a new
figure's Axes) and returns that Axes.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_reordered_matrix", "plot_latent_space", "plot_elbo_history"]

# Largest matrix drawn by plot_reordered_matrix: a dense copy of it is made.
MAX_PLOTTED_CELLS = 2 * 10 ** 7


def _pyplot():
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "skcocluster.plotting needs matplotlib: pip install skcocluster[plot] "
            "(or pip install matplotlib).") from error
    return plt


def _axes(ax):
    """The given Axes, or the Axes of a new figure."""
    if ax is None:
        _, ax = _pyplot().subplots()
    return ax


def _cluster_order(labels):
    """Order that sorts items by cluster (stable), and the positions of the boundaries.

    Parameters
    ----------
    labels : ndarray of shape (n_items,)

    Returns
    -------
    order : ndarray of shape (n_items,)
        Indices of the items, cluster by cluster in sorted label order.
    boundaries : ndarray of shape (n_present_clusters - 1,)
        Number of items before each cluster after the first: where a line separates it
        from the previous one.
    """
    order = np.argsort(labels, kind="stable")
    _, sizes = np.unique(labels, return_counts=True)
    return order, np.cumsum(sizes)[:-1]


def _dense_matrix(X, max_cells):
    """X as a dense 2-D ndarray, refusing matrices of more than ``max_cells`` cells."""
    shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D, got shape {shape}.")
    if shape[0] * shape[1] > max_cells:
        raise ValueError(
            f"X has {shape[0]} x {shape[1]} cells, more than max_cells={max_cells}: draw a "
            "subset of its rows and columns, or raise max_cells.")
    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    if dense.dtype == bool:
        dense = dense.astype(np.float64)
    return dense


def _check_labels(labels, n_items, name):
    labels = np.asarray(labels).ravel()
    if labels.shape[0] != n_items:
        raise ValueError(f"{name} has {labels.shape[0]} entries, X has {n_items}.")
    return labels


def plot_reordered_matrix(X, row_labels, column_labels, ax=None, *, cmap="Greys",
                          boundary_color="tab:red", max_cells=MAX_PLOTTED_CELLS,
                          **imshow_kwargs):
    """Draw a matrix with its rows and columns sorted by cluster, blocks outlined.

    Rows are sorted by ``row_labels`` and columns by ``column_labels`` (stable: the order
    within a cluster is the original one), and a line is drawn between consecutive
    clusters, so that a good co-clustering shows as a grid of homogeneous blocks.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_rows, n_columns)
        The data matrix. A sparse matrix is converted to a dense array: at most
        ``max_cells`` cells.
    row_labels : array-like of shape (n_rows,)
        Row cluster of each row, e.g. ``model.row_labels_``.
    column_labels : array-like of shape (n_columns,)
        Column cluster of each column, e.g. ``model.column_labels_``.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    cmap : str or matplotlib.colors.Colormap, default="Greys"
        Colour map of the cell values.
    boundary_color : color, default="tab:red"
        Colour of the lines between clusters.
    max_cells : int, default=2e7
        Largest number of cells accepted; beyond it a ValueError asks for a subset
        (the dense copy would take ``8 * max_cells`` bytes).
    **imshow_kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow` (e.g. ``norm``, ``vmax``).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes, holding the image and one horizontal line per row-cluster boundary
        and one vertical line per column-cluster boundary (clusters absent from the
        labels get none).

    Raises
    ------
    ValueError
        If X is not 2-D, is larger than ``max_cells``, or the labels do not match it.

    Examples
    --------
    >>> from skcocluster.datasets import make_lbm
    >>> from skcocluster.plotting import plot_reordered_matrix
    >>> X, rows, cols = make_lbm(60, 40, 3, random_state=0)
    >>> ax = plot_reordered_matrix(X, rows, cols)  # doctest: +SKIP
    """
    if hasattr(X, "to_numpy"):  # pandas DataFrame
        X = X.to_numpy()
    dense = _dense_matrix(X, int(max_cells))
    row_labels = _check_labels(row_labels, dense.shape[0], "row_labels")
    column_labels = _check_labels(column_labels, dense.shape[1], "column_labels")
    ax = _axes(ax)
    row_order, row_bounds = _cluster_order(row_labels)
    column_order, column_bounds = _cluster_order(column_labels)
    imshow_kwargs.setdefault("aspect", "auto")
    imshow_kwargs.setdefault("interpolation", "nearest")
    ax.imshow(dense[np.ix_(row_order, column_order)], cmap=cmap, **imshow_kwargs)
    # Image pixels are centred on integers: a boundary before item b lies at b - 0.5.
    for bound in row_bounds:
        ax.axhline(bound - 0.5, color=boundary_color, linewidth=1)
    for bound in column_bounds:
        ax.axvline(bound - 0.5, color=boundary_color, linewidth=1)
    ax.set_xlabel("columns, sorted by cluster")
    ax.set_ylabel("rows, sorted by cluster")
    return ax


def _projection(points, latent_dim):
    """Centre and the two leading principal directions of ``points``.

    Parameters
    ----------
    points : ndarray of shape (n_points, latent_dim)
    latent_dim : int

    Returns
    -------
    centre : ndarray of shape (latent_dim,)
    directions : ndarray of shape (latent_dim, 2)
        Orthonormal columns; with ``latent_dim <= 2`` the identity (padded with a zero
        column for one dimension), so that the plot shows the positions themselves.
    """
    if latent_dim <= 2:
        return np.zeros(latent_dim), np.eye(latent_dim, 2)
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    return centre, vt[:2].T


def _draw_side(ax, side, estimator, project, marker, show_components):
    """Scatter one side's positions by cluster, and its components' means and circles."""
    from matplotlib.patches import Circle

    positions = project(getattr(estimator, f"{side}_embedding_"))
    labels = getattr(estimator, f"{side}_labels_")
    means = project(getattr(estimator, f"{side}_means_"))
    radii = np.sqrt(getattr(estimator, f"{side}_variances_"))
    colours = [f"C{k % 10}" for k in range(means.shape[0])]
    ax.scatter(positions[:, 0], positions[:, 1], c=[colours[k] for k in labels], s=12,
               marker=marker, alpha=0.6, linewidths=0)
    if not show_components:
        return
    ax.scatter(means[:, 0], means[:, 1], c=colours, s=50, marker=marker,
               edgecolors="black", linewidths=1.2, zorder=3)
    for mean, radius, colour in zip(means, radii, colours):
        linestyle = "-" if side == "row" else "--"
        ax.add_patch(Circle(mean, radius, fill=False, edgecolor=colour, linewidth=2,
                            linestyle=linestyle, zorder=4))


def plot_latent_space(estimator, ax=None, *, show_rows=True, show_columns=True,
                      show_components=True):
    """Draw the rows' and columns' latent positions and the fitted Gaussian components.

    Rows (dots) and columns (triangles) are placed at their posterior means
    (``row_embedding_``, ``column_embedding_``) and coloured by cluster; row cluster k
    and column cluster k share a colour, which pairs them when ``n_clusters`` is an int.
    Each mixture component is drawn as its mean (large marker) and a circle of radius
    ``sqrt(variance)`` (``row_means_``, ``row_variances_``, ``column_means_``,
    ``column_variances_``; solid for rows, dashed for columns). Rows link to the columns
    close to them: the decoder's ``eta`` is ``alpha - ||X_i - Y_j||^2``.

    When ``latent_dim > 2``, everything is projected on the two leading principal axes
    of the rows' and columns' positions together (a PCA by numpy's SVD). The components
    are isotropic, so their projected circles keep the radius ``sqrt(variance)``.

    Parameters
    ----------
    estimator : DeepLatentBlockCoclustering
        A fitted estimator.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    show_rows : bool, default=True
        Whether to draw the rows' positions and components.
    show_columns : bool, default=True
        Whether to draw the columns' positions and components.
    show_components : bool, default=True
        Whether to draw the component means and circles.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes, with one scatter collection per side shown (plus one of component
        means when ``show_components``) and one circle patch per component, with an
        equal aspect ratio so that circles are round.

    Examples
    --------
    >>> from skcocluster import DeepLatentBlockCoclustering
    >>> from skcocluster.datasets import make_lbm
    >>> from skcocluster.plotting import plot_latent_space
    >>> X, _, _ = make_lbm(150, 100, 3, random_state=0)
    >>> model = DeepLatentBlockCoclustering(3, random_state=0).fit(X)  # doctest: +SKIP
    >>> ax = plot_latent_space(model)  # doctest: +SKIP
    """
    check_is_fitted(estimator, ["row_embedding_", "column_embedding_", "row_means_"])
    ax = _axes(ax)
    latent_dim = estimator.row_embedding_.shape[1]
    centre, directions = _projection(
        np.vstack([estimator.row_embedding_, estimator.column_embedding_]), latent_dim)

    def project(points):
        return (np.asarray(points) - centre) @ directions

    sides = [(side, marker) for side, marker, shown in
             (("row", "o", show_rows), ("column", "^", show_columns)) if shown]
    for side, marker in sides:
        _draw_side(ax, side, estimator, project, marker, show_components)
    ax.set_aspect("equal", adjustable="datalim")
    ax.autoscale_view()
    prefix = "latent dimension" if latent_dim <= 2 else "principal axis"
    ax.set_xlabel(f"{prefix} 1")
    ax.set_ylabel(f"{prefix} 2")
    if sides:
        ax.legend(handles=_legend_handles(sides, show_components), loc="best",
                  fontsize="small")
    return ax


def _legend_handles(sides, show_components):
    """Legend entries in neutral colours (the colours themselves are the clusters)."""
    from matplotlib.lines import Line2D

    handles = []
    for side, marker in sides:
        handles.append(Line2D([], [], marker=marker, linestyle="none", color="grey",
                              markersize=5, label=f"{side}s (colour: cluster)"))
        if show_components:
            linestyle = "-" if side == "row" else "--"
            handles.append(Line2D([], [], marker=marker, linestyle=linestyle, color="black",
                                  markerfacecolor="white", markersize=8,
                                  label=f"{side} component: mean, sqrt(variance)"))
    return handles


def plot_elbo_history(estimator, ax=None):
    """Draw the training objectives per epoch: pretraining, then the ELBO.

    ``pretrain_history_`` (the graph-autoencoder objective per cell) is drawn over epochs
    ``1 .. pretrain_epochs`` and ``elbo_history_`` (the ELBO per cell, one Monte Carlo
    draw per epoch) over the epochs that follow, with a dotted line where the alternating
    phase starts. The two objectives differ (the ELBO adds the mixture prior's terms), so
    a jump at the boundary is expected. The final exact bound ``lower_bound_`` is marked
    at the last epoch.

    Parameters
    ----------
    estimator : DeepLatentBlockCoclustering
        A fitted estimator.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The Axes, holding the pretraining curve (when there was pretraining), the ELBO
        curve, the phase boundary and the final bound's marker, as lines.

    Examples
    --------
    >>> from skcocluster.plotting import plot_elbo_history
    >>> ax = plot_elbo_history(model)  # doctest: +SKIP
    """
    check_is_fitted(estimator, ["elbo_history_", "pretrain_history_"])
    ax = _axes(ax)
    pretrain = np.asarray(estimator.pretrain_history_)
    elbo = np.asarray(estimator.elbo_history_)
    n_pretrain = pretrain.shape[0]
    if n_pretrain:
        ax.plot(np.arange(1, n_pretrain + 1), pretrain, color="C7",
                label="pretraining objective")
    epochs = np.arange(n_pretrain + 1, n_pretrain + elbo.shape[0] + 1)
    ax.plot(epochs, elbo, color="C0", label="ELBO (alternating phase)")
    if n_pretrain:
        ax.axvline(n_pretrain + 0.5, color="black", linestyle=":", linewidth=1)
    if elbo.shape[0]:
        ax.plot([epochs[-1]], [estimator.lower_bound_], marker="o", linestyle="none",
                color="C3", label="final exact bound (lower_bound_)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("objective per cell")
    ax.legend(loc="best", fontsize="small")
    return ax
