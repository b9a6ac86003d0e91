"""scikit-learn's estimator checks, on a small configuration so they run quickly."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcocluster import DeepLatentBlockCoclustering, VariationalCoclustering
from skcocluster._base import EXPECTED_FAILED_CHECKS


def small_estimators():
    return [
        DeepLatentBlockCoclustering(n_clusters=2, latent_dim=2, hidden_dim=4, pretrain_epochs=3,
                                    max_iter=3, random_state=0),
        DeepLatentBlockCoclustering(n_clusters=(2, 1), latent_dim=2, hidden_dim=4,
                                    pretrain_epochs=3, max_iter=3, block_refinement=False,
                                    degree_correction=False, random_state=0),
        # The optional objectives (tests/test_options.py), each on its own.
        DeepLatentBlockCoclustering(n_clusters=2, latent_dim=2, hidden_dim=4, pretrain_epochs=3,
                                    max_iter=3, clustering="module", block_refinement=False,
                                    random_state=0),
        DeepLatentBlockCoclustering(n_clusters=2, latent_dim=2, hidden_dim=4, pretrain_epochs=3,
                                    max_iter=3, graph_weight=1.0, n_neighbors=3,
                                    random_state=0),
        # Two facets (tests/test_facets.py); (rows, columns) pairs, as an int k asks for
        # k + 1 column clusters with several facets and some checks fit two columns.
        DeepLatentBlockCoclustering(n_clusters=[(2, 1), (3, 1)], n_facets=2, facet_fade_epochs=1,
                                    latent_dim=2, hidden_dim=4, pretrain_epochs=3, max_iter=3,
                                    random_state=0),
        VariationalCoclustering(n_clusters=2, latent_dim=2, hidden_dim=4, pretrain_epochs=2,
                                max_iter=2, n_samples=2, cells_per_batch=16, random_state=0),
        # The graph regulariser on VariationalCoclustering (tests/test_variational_options.py).
        VariationalCoclustering(n_clusters=2, latent_dim=2, hidden_dim=4, pretrain_epochs=2,
                                max_iter=2, n_samples=2, cells_per_batch=16, graph_weight=1.0,
                                n_neighbors=3, random_state=0),
        # Two facets on VariationalCoclustering, with (rows, columns) pairs as above.
        VariationalCoclustering(n_clusters=[(2, 1), (3, 1)], n_facets=2, latent_dim=2,
                                hidden_dim=4, pretrain_epochs=2, max_iter=2, n_samples=2,
                                cells_per_batch=16, random_state=0),
    ]


@parametrize_with_checks(small_estimators(),
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # Three epochs never converge; the warning is tested on its own in test_dlbm.
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
