"""From the estimator's parameters to the training configuration of the two optional
objectives, ``clustering='module'`` and ``graph_weight`` (docs/model.rst, "The clustering
module" and "The graph regulariser").

Kept apart from the estimators so that they only call :func:`option_configs` (the deep
LBM), :func:`graph_option` (VariationalCoclustering, whose mixtures are already learnt by
gradient, so it has no clustering module), :func:`deep_memberships` and
:func:`reorder_module_clusters`.
"""

from .._train.clustering_module import ModuleOptions
from .._objective.graph import Edges, GraphRegulariser
from .neighbour_graph import check_row_graph, neighbour_graphs


def option_configs(estimator, csr, row_graph, device, seed):
    """The ``clustering_module`` and ``graph`` entries of the training configuration.

    Parameters
    ----------
    estimator : DeepLatentBlockCoclustering
    csr : csr_matrix of shape (M, P)
    row_graph : {array-like, sparse matrix} of shape (M, M) or None
        The user's row graph, validated here (:func:`graph_option`).
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
    check_option_combination(estimator)
    module = None
    if estimator.clustering == "module":
        module = ModuleOptions(concentration=estimator.module_concentration,
                               orthonormality=estimator.module_orthonormality)
    return module, graph_option(estimator, csr, row_graph, device, seed)


def graph_option(estimator, csr, row_graph, device, seed):
    """The graph regulariser of an estimator with ``graph_weight`` and ``n_neighbors``.

    Parameters
    ----------
    estimator : DeepLatentBlockCoclustering or VariationalCoclustering
    csr : csr_matrix of shape (M, P)
    row_graph : {array-like, sparse matrix} of shape (M, M) or None
        The user's row graph, validated here (``neighbour_graph.check_row_graph``).
    device : torch.device
    seed : int
        Seeds the randomised SVD of the neighbour search.

    Returns
    -------
    graph : GraphRegulariser or None
        None when ``graph_weight == 0``.

    Raises
    ------
    ValueError
        When ``row_graph`` is given with ``graph_weight == 0``, or is not a valid graph.
    """
    if row_graph is not None:
        if estimator.graph_weight == 0:
            raise ValueError("row_graph is only used by the graph regulariser: set "
                             "graph_weight > 0 to use it (graph_weight=0 turns it off).")
        row_graph = check_row_graph(row_graph, csr.shape[0])
    if estimator.graph_weight == 0:
        return None
    rows, columns = neighbour_graphs(csr, estimator.n_neighbors, seed, row_graph)
    return GraphRegulariser(float(estimator.graph_weight), Edges.from_sparse(rows, device),
                            Edges.from_sparse(columns, device))


def check_option_combination(estimator):
    """Raise a ValueError for combinations of the deep LBM's options that are not supported."""
    if estimator.clustering == "module" and estimator.n_facets > 1:
        raise ValueError("clustering='module' is not available with n_facets > 1; "
                         "use clustering='gmm' for several facets.")


def deep_memberships(model, side, post_mean, post_log_var):
    """Memberships of positions under the clustering head of one side (``model.head``).

    The clustering module's ``G`` when the model was fitted with ``clustering='module'``,
    otherwise the Gaussian mixture's responsibilities (facet 1's with several facets).

    Parameters
    ----------
    model : DeepLatentBlockModel
    side : {"row", "column"}
    post_mean : Tensor of shape (n, D)
    post_log_var : Tensor of shape (n,)

    Returns
    -------
    resp : Tensor of shape (n, K)
    """
    return model.head(side).memberships(post_mean, post_log_var)


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
