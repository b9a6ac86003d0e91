"""
===========================================================
A drop-in replacement for SpectralCoclustering
===========================================================

scikit-learn's demo of :class:`~sklearn.cluster.SpectralCoclustering` plants biclusters in a
matrix, shuffles its rows and columns, fits the estimator and shows the matrix reordered by
the clusters found, with the :func:`~sklearn.metrics.consensus_score` of the biclusters
against the planted ones. Here is the same demo with
:class:`~skcocluster.DeepLatentBlockCoclustering` next to it: the only change is the
estimator's name.

The matrix is binary, drawn from a latent block model
(:func:`~skcocluster.datasets.make_lbm`): 4 row clusters and 4 column clusters, cells of a
diagonal block are 1 with probability 0.3, the others with probability 0.1. That is a
moderately weak signal, the regime where the two estimators differ (on a clear signal both
find the blocks).
"""

# %%
# Data: planted biclusters, then shuffled
# ---------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import SpectralCoclustering
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import consensus_score

from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import make_lbm
from skcocluster.plotting import plot_reordered_matrix

# This page trains for fewer epochs than the defaults so that it builds in seconds; the
# estimator then warns that training stopped at ``max_iter``. Silenced here, not in your
# own code: there, the warning says to train longer.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

n_clusters = 4
block_probabilities = np.full((n_clusters, n_clusters), 0.1) + 0.2 * np.eye(n_clusters)
X, row_truth, column_truth = make_lbm(
    300, 200, n_clusters, block_params=block_probabilities, shuffle=True, random_state=0
)
# The planted biclusters as (rows, columns) indicator arrays, the format of biclusters_.
truth = (
    np.array([row_truth == k for k in range(n_clusters)]),
    np.array([column_truth == k for k in range(n_clusters)]),
)

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
plot_reordered_matrix(X, row_truth, column_truth, ax=axes[0])
axes[0].set_title("sorted by the planted clusters")
axes[1].imshow(X, cmap="Greys", aspect="auto", interpolation="nearest")
axes[1].set_title("as given to the estimators (shuffled)")
fig.tight_layout()

# %%
# Fit both estimators
# -------------------
# Same constructor call, same fitted attributes. The deep model is given fewer epochs than
# its defaults (``pretrain_epochs=100, max_iter=100`` instead of 200 and 300) so that this
# page builds in seconds.
spectral = SpectralCoclustering(n_clusters=n_clusters, random_state=0).fit(X)
deep = DeepLatentBlockCoclustering(
    n_clusters=n_clusters, pretrain_epochs=100, max_iter=100, random_state=0
).fit(X)

for model in (spectral, deep):
    score = consensus_score(model.biclusters_, truth)
    print(f"{type(model).__name__:28s} consensus score: {score:.3f}")

# %%
# The reordered matrices
# ----------------------
# Sorting rows and columns by the clusters found should show the diagonal blocks again;
# the red lines separate the clusters.
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, model in zip(axes, (spectral, deep)):
    plot_reordered_matrix(X, model.row_labels_, model.column_labels_, ax=ax)
    ax.set_title(
        f"{type(model).__name__}\nconsensus {consensus_score(model.biclusters_, truth):.3f}"
    )
fig.tight_layout()

# %%
# What else the deep estimator gives
# ----------------------------------
# Soft memberships, the block parameters, and where its final partition comes from (see
# "``block_refinement`` and ``refined_from_``" in the user guide: on weak signals the reported
# partition is often a block-model refinement of the deep model's, or of its spectral
# start).
print("first rows' memberships:\n", deep.row_memberships_[:3].round(3))
print("block probabilities:\n", deep.block_probabilities_.round(2))
print("final partition from:", deep.refined_from_)

plt.show()
