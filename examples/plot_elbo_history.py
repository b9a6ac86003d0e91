"""
=====================================
Training curves: pretraining and ELBO
=====================================

A fit has two phases. **Pretraining** (``pretrain_epochs``) trains the encoders and the
decoder as a graph autoencoder, without clusters; its objective per cell is stored in
``pretrain_history_``. k-means on the positions then starts the mixtures, and the
**alternating phase** (up to ``max_iter`` epochs) maximises the evidence lower bound
(ELBO), whose value per cell at each epoch is stored in ``elbo_history_``. Training stops
when the ELBO's relative gain over the last epochs falls under ``tol`` (``converged_`` is
then True) or at ``max_iter``, with a ``ConvergenceWarning``.

:func:`~skcocluster.plotting.plot_elbo_history` draws both curves end to end.
"""

# %%
# A fit with the default numbers of epochs
# ----------------------------------------
# ``pretrain_epochs=200, max_iter=300``. The warning, if any, is caught and printed.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score
from skcocluster.plotting import plot_elbo_history

block_probabilities = np.full((3, 3), 0.1) + 0.3 * np.eye(3)
X, row_truth, column_truth = make_lbm(
    300, 200, 3, block_params=block_probabilities, random_state=0
)


def fit_and_report(**params):
    """Fit, print the warning and the training summary, and return the estimator."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = DeepLatentBlockCoclustering(n_clusters=3, random_state=0, **params).fit(X)
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            print("ConvergenceWarning:", warning.message)
    print(f"pretraining epochs: {model.pretrain_history_.size}, alternating epochs: "
          f"{model.n_iter_}, converged: {model.converged_}, "
          f"final ELBO per cell (lower_bound_): {model.lower_bound_:.4f}")
    cari = coclustering_adjusted_rand_score(row_truth, column_truth, model.row_labels_,
                                            model.column_labels_)
    print(f"co-clustering ARI against the planted clusters: {cari:.3f}")
    return model


default = fit_and_report()
ax = plot_elbo_history(default)
ax.set_title("default epochs (max_iter=300)")
ax.figure.tight_layout()

# %%
# The two objectives differ: the ELBO adds the mixture prior's terms (the positions' fit
# to their clusters and the entropy of the memberships) to the reconstruction, so the
# curve jumps down where the alternating phase starts. Each epoch's ELBO uses one Monte
# Carlo draw of the positions, hence its small wiggles; ``lower_bound_`` (the red dot) is
# computed once at the end over all cells with a fixed draw, and is the figure that
# ranks restarts (``n_init``).
#
# Here the ELBO is still rising at epoch 300: the fit stopped at ``max_iter``, not by
# ``tol``, and the estimator warned.
#
# More epochs
# -----------
# With room to run, the same fit stops by itself when the ELBO flattens out, at a higher
# bound. Whether the extra epochs change the clusters depends on the data (here they do
# not: both co-clustering ARIs are 1); the warning says that the model itself has not
# settled.
longer = fit_and_report(max_iter=1000)
ax = plot_elbo_history(longer)
ax.set_title("max_iter=1000")
ax.figure.tight_layout()
plt.show()
