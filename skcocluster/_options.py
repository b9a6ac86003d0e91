"""From the estimator's parameters to the training configuration of the two optional
objectives, ``clustering='module'`` and ``graph_weight`` (design/options.md, 1 and 2).

Kept apart from ``_dlbm.py`` so that the estimator only calls :func:`option_configs`,
:func:`deep_memberships` and :func:`reorder_module_clusters`.
"""

from ._module_training import ModuleOptions
from ._neighbour_graph import Edges, GraphRegulariser, check_row_graph, neighbour_graphs


def option_configs(estimator, csr, row_graph, device, seed):
    """The ``clustering_module`` and ``graph`` entries of the training configuration.

    Parameters
    ----------
    estimator : DeepLatentBlockCoclustering
    csr : csr_matrix of shape (M, P)
    row_graph : {array-like, sparse matrix} of shape (M, M) or None
        The user's row graph, validated here (``_neighbour_graph.check_row_graph``).
    device : torch.device
    seed : int
        Seeds the randomised SVD of the neighbour search.

    Returns
    -------
    clustering_module : ModuleOptions or None
    graph : GraphRegulariser or None

    Raises
    ------
    ValueError
        When the options cannot be combined as asked.
    """
    check_option_combination(estimator, row_graph)
    if row_graph is not None:
        row_graph = check_row_graph(row_graph, csr.shape[0])
    module = None
    if estimator.clustering == "module":
        module = ModuleOptions(concentration=estimator.module_concentration,
                               orthonormality=estimator.module_orthonormality)
    graph = None
    if estimator.graph_weight > 0:
        rows, columns = neighbour_graphs(csr, estimator.n_neighbors, seed, row_graph)
        graph = GraphRegulariser(float(estimator.graph_weight),
                                 Edges.from_sparse(rows, device),
                                 Edges.from_sparse(columns, device))
    return module, graph


def check_option_combination(estimator, row_graph):
    """Raise a ValueError for combinations that are not supported."""
    if row_graph is not None and estimator.graph_weight == 0:
        raise ValueError("row_graph is only used by the graph regulariser: set "
                         "graph_weight > 0 to use it (graph_weight=0 turns it off).")
    if estimator.clustering == "module" and getattr(estimator, "n_facets", 1) > 1:
        raise ValueError("clustering='module' is not available with n_facets > 1; "
                         "use clustering='gmm' for several facets.")


def deep_memberships(model, side, post_mean, post_log_var):
    """Memberships of positions under the deep model of one side.

    The clustering module's ``G`` when the model was fitted with ``clustering='module'``,
    otherwise the Gaussian mixture's responsibilities.

    Returns
    -------
    resp : Tensor of shape (n, K)
    """
    module = getattr(model, f"{side}_clustering", None)
    if module is not None:
        return module.memberships(post_mean)
    prior = model.row_prior if side == "row" else model.column_prior
    return prior.responsibilities(post_mean, post_log_var)


def reorder_module_clusters(module, order):
    """Permute the clusters of a clustering module (None: nothing to do).

    Used when the column clusters are re-paired with the row clusters, so that the
    module's memberships of new columns come in the reported order.

    Parameters
    ----------
    module : ClusteringModule or None
    order : ndarray of shape (n_clusters,)
        ``order[k]`` is the old index of new cluster k.
    """
    if module is not None:
        module.reorder(order)
