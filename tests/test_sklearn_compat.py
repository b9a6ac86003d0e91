"""scikit-learn's estimator checks, on a small configuration so they run quickly."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcocluster import DeepLatentBlockCoclustering
from skcocluster._base import EXPECTED_FAILED_CHECKS


def small_estimators():
    return [
        DeepLatentBlockCoclustering(n_clusters=2, latent_dim=2, hidden_dim=4, pretrain_epochs=3,
                                    max_iter=3, random_state=0),
        DeepLatentBlockCoclustering(n_clusters=(2, 1), latent_dim=2, hidden_dim=4,
                                    pretrain_epochs=3, max_iter=3, block_refinement=False,
                                    degree_correction=False, random_state=0),
    ]


@parametrize_with_checks(small_estimators(),
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # Three epochs never converge; the warning is tested on its own in test_dlbm.
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
