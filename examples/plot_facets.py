"""
========================================
Two partitions of the rows: ``n_facets``
========================================

Documents can group by topic *and* by source; customers by taste *and* by budget. When the
rows of a matrix carry two independent partitions, each seen by its own part of the
columns, a single clustering has to choose one of them, or cut the rows into their
product. ``n_facets=2`` splits every latent position into two blocks, each with its own
Gaussian mixture, and finds one partition per block. ``row_labels_`` (and everything
the scikit-learn surface reports) is facet 1; ``row_labels_facets_`` holds both.
"""

# %%
# A matrix with two planted row partitions
# ----------------------------------------
# 300 rows, 240 columns: the rows fall into 3 groups over one half of the columns and,
# independently, into 2 groups over the other half.
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import make_multi_facet_blocks

torch.set_num_threads(1)
X, row_truths, column_truths = make_multi_facet_blocks(300, 240, n_clusters=(3, 2),
                                                       p_in=0.4, p_out=0.1, random_state=1)

# %%
# Two facets
# ----------
# ``n_clusters`` gives one entry per facet. An int ``k`` asks for ``k`` row clusters and
# ``k`` paired column clusters, plus one cluster of the columns the facet does not affect.
# Fewer epochs than the defaults keep this example quick.
epochs = dict(pretrain_epochs=150, max_iter=160, facet_fade_epochs=30, hidden_dim=32,
              latent_dim=4, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    two = DeepLatentBlockCoclustering([3, 2], n_facets=2, **epochs).fit(X)
    one = DeepLatentBlockCoclustering(3, **epochs).fit(X)

for name, labels in (("facet 1", two.row_labels_facets_[0]),
                     ("facet 2", two.row_labels_facets_[1]),
                     ("one facet, 3 clusters", one.row_labels_)):
    print(f"{name:>22}: ARI with partition 1 = "
          f"{adjusted_rand_score(row_truths[0], labels):.2f}, with partition 2 = "
          f"{adjusted_rand_score(row_truths[1], labels):.2f}")
print("ARI between the facets:", round(two.facet_row_ari_[0, 1], 2))
print("KL per facet (rows, nats):", two.row_facet_kl_.round(1))

# %%
# The matrix sorted by each facet
# -------------------------------
# Rows sorted by facet 1's labels show blocks on the columns of the first half; sorted by
# facet 2's labels, on the second half. Columns are sorted by the half they belong to
# (facet 2's column labels put the first half's columns last).
column_order = np.lexsort((column_truths[0], column_truths[1]))
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), sharey=True)
for ax, (title, labels) in zip(axes, (("unsorted rows", np.zeros(300, int)),
                                      ("rows by facet 1", two.row_labels_facets_[0]),
                                      ("rows by facet 2", two.row_labels_facets_[1]))):
    ax.imshow(X[np.argsort(labels, kind="stable")][:, column_order], aspect="auto",
              cmap="Greys", interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("columns")
axes[0].set_ylabel("rows")
fig.tight_layout()
plt.show()
