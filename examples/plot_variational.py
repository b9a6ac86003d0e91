"""
=======================================================
Variational co-clustering: new rows, new columns, cells
=======================================================

:class:`~skcocluster.VariationalCoclustering` encodes a row from its row vector and a column
from its column vector, with a Gaussian-mixture VAE on each side, a latent per cell and a
mutual-information term that ties the two partitions together. Because every encoder reads a
vector, the fitted model clusters **new rows and new columns** directly, and it trains on
mini-batches. It has the same attributes and methods as
:class:`~skcocluster.DeepLatentBlockCoclustering`, plus memberships of given cells.
"""

# %%
# Fit on a planted block matrix
# -----------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from skcocluster import VariationalCoclustering
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score
from skcocluster.plotting import plot_reordered_matrix

torch.set_num_threads(1)
# This page trains for fewer epochs than the defaults so that it builds in seconds; the
# estimator then warns that training stopped at ``max_iter``. Silenced here, not in your
# own code: there, the warning says to train longer.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

blocks = np.full((3, 3), 0.1) + 0.35 * np.eye(3)
X, rows, cols = make_lbm(300, 200, 3, block_params=blocks, random_state=0)
model = VariationalCoclustering(n_clusters=3, pretrain_epochs=10, max_iter=15,
                                random_state=0).fit(X)
print("CARI:", round(coclustering_adjusted_rand_score(rows, cols, model.row_labels_,
                                                      model.column_labels_), 3))

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
axes[0].spy(X, markersize=0.3, aspect="auto")
axes[0].set_title("shuffled matrix")
plot_reordered_matrix(X, model.row_labels_, model.column_labels_, ax=axes[1])
axes[1].set_title("reordered by the clusters found")
fig.tight_layout()

# %%
# New rows and new columns
# ------------------------
# New rows are given over the training columns (``predict``), new columns over the training
# rows (``predict_columns``). Here both come from a fresh draw of the same model, aligned
# with the training clusters.
X_new, rows_new, cols_new = make_lbm(300, 200, 3, block_params=blocks, random_state=1,
                                     shuffle=False)
new_rows = np.zeros_like(X_new)
new_rows[:, np.argsort(cols, kind="stable")] = X_new
new_columns = np.zeros_like(X_new)
new_columns[np.argsort(rows, kind="stable")] = X_new
print("ARI of new rows:   ", round(adjusted_rand_score(rows_new, model.predict(new_rows)), 3))
print("ARI of new columns:", round(adjusted_rand_score(
    cols_new, model.predict_columns(new_columns)), 3))

# %%
# Cell memberships
# ----------------
# Each cell has its own latent, with a mixture prior of ``n_cell_clusters`` components
# (by default L x Q). ``predict_cell_proba`` gives the memberships of the cells asked for,
# never the whole matrix at once. Cells inside a bicluster and cells outside it fall into
# different components:
i = np.repeat(np.arange(0, 300, 3), 20)
j = np.tile(np.arange(0, 200, 10), 100)
cell_labels = model.predict_cells(i, j)
inside = model.row_labels_[i] == model.column_labels_[j]
fig, ax = plt.subplots(figsize=(6, 3.5))
bins = np.arange(model.predict_cell_proba(i[:1], j[:1]).shape[1] + 1) - 0.5
ax.hist([cell_labels[inside], cell_labels[~inside]], bins=bins,
        label=["cells inside a bicluster", "cells outside"])
ax.set_xlabel("cell component")
ax.set_ylabel("cells")
ax.legend()
fig.tight_layout()
