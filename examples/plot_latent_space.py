"""
=====================================
Rows and columns in the latent space
=====================================

The deep latent block model places every row and every column in a common latent space;
a row and a column link the more, the closer they are (the decoder's logit is
``alpha - ||X_i - Y_j||^2``). Clusters are the components of a Gaussian mixture over the
row positions and of another one over the column positions.
:func:`~skcocluster.plotting.plot_latent_space` draws the positions (posterior means,
``row_embedding_`` and ``column_embedding_``), coloured by cluster, and each component as
its mean and a circle of radius ``sqrt(variance)``.
"""

# %%
# Data and a two-dimensional model
# --------------------------------
# With ``latent_dim=2`` the plot shows the latent space itself.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import make_lbm
from skcocluster.plotting import plot_latent_space

# This page trains for fewer epochs than the defaults so that it builds in seconds; the
# estimator then warns that training stopped at ``max_iter``. Silenced here, not in your
# own code: there, the warning says to train longer.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

block_probabilities = np.full((3, 3), 0.1) + 0.4 * np.eye(3)
X, row_truth, column_truth = make_lbm(
    300, 200, 3, block_params=block_probabilities, random_state=0
)

model_2d = DeepLatentBlockCoclustering(
    n_clusters=3, latent_dim=2, pretrain_epochs=100, max_iter=100, random_state=0
).fit(X)
print("final partition from:", model_2d.refined_from_)

fig, ax = plt.subplots(figsize=(6, 5.5))
plot_latent_space(model_2d, ax=ax)
ax.set_title("latent_dim=2")
fig.tight_layout()

# %%
# Row cluster k and column cluster k share a colour: with ``n_clusters=3`` they form a
# bicluster, and their components sit next to each other, since the rows of a bicluster
# link mostly to its columns. Row and column clouds of different biclusters are far
# apart.
#
# Higher dimensions: a PCA projection
# -----------------------------------
# With the default ``latent_dim=8`` the function projects rows, columns and component
# means on the two leading principal axes of all the positions. The components are
# isotropic, so a projected circle keeps the radius ``sqrt(variance)``; but clusters that
# are apart in eight dimensions may overlap in two.
model_8d = DeepLatentBlockCoclustering(
    n_clusters=3, pretrain_epochs=100, max_iter=100, random_state=0
).fit(X)
print("final partition from:", model_8d.refined_from_)

fig, ax = plt.subplots(figsize=(6, 5.5))
plot_latent_space(model_8d, ax=ax)
ax.set_title("latent_dim=8, projected on two principal axes")
fig.tight_layout()

# %%
# Rows only, without the components
# ---------------------------------
# The keyword arguments select what is drawn; the function returns the Axes, so the plot
# can be annotated further.
fig, ax = plt.subplots(figsize=(5, 4.5))
plot_latent_space(model_2d, ax=ax, show_columns=False, show_components=False)
ax.set_title("rows of the 2-D model")
fig.tight_layout()

# %%
# A caveat: the positions are the deep model's
# --------------------------------------------
# With the default ``block_refinement=True``, the reported clusters may come from a block
# model refinement (``refined_from_`` then starts with ``'start'`` or ends with ``'EM'``);
# the mixtures are refitted to them, but the positions are what the encoders learnt. On a
# weak signal they need not separate the reported clusters.
plt.show()
