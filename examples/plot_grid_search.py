"""
===================================================
Choosing the number of clusters with GridSearchCV
===================================================

:meth:`~skcocluster.DeepLatentBlockCoclustering.score` returns the log-likelihood per
cell of held-out rows under the fitted latent block model, each row's cluster integrated
out: higher is better, and it can be compared between numbers of clusters. So
:class:`~sklearn.model_selection.GridSearchCV` chooses ``n_clusters`` like any other
hyper-parameter (``n_clusters='auto'`` chooses them without cross-validation, by the ICL of
the block model). Cross-validation splits the rows;
every fold keeps all the columns, and the held-out rows are scored over them.

The matrix has 3 planted row clusters and 3 planted column clusters.
"""

# %%
# Data
# ----
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import make_lbm
from skcocluster.metrics import coclustering_adjusted_rand_score

# This page trains for fewer epochs than the defaults so that it builds in seconds; the
# estimator then warns that training stopped at ``max_iter``. Silenced here, not in your
# own code: there, the warning says to train longer.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

block_probabilities = np.full((3, 3), 0.1) + 0.25 * np.eye(3)
X, row_truth, column_truth = make_lbm(
    300, 200, 3, block_params=block_probabilities, random_state=0
)

# %%
# Grid search over the number of clusters
# ---------------------------------------
# Shuffled folds (rows of real matrices often come sorted). ``n_clusters=1`` is the
# baseline without structure. Fewer epochs than the defaults keep the 16 fits fast.
candidates = [1, 2, 3, 4, 5]
search = GridSearchCV(
    DeepLatentBlockCoclustering(pretrain_epochs=100, max_iter=100, random_state=0),
    {"n_clusters": candidates},
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(X)
print("chosen:", search.best_params_)
for k, mean, std in zip(
    candidates, search.cv_results_["mean_test_score"], search.cv_results_["std_test_score"]
):
    print(f"n_clusters={k}: held-out log-likelihood per cell {mean:.4f} +/- {std:.4f}")

# %%
# The scores of each fold
# -----------------------
# The spread between folds (the rows held out differ) is larger than the differences
# between 3, 4 and 5 clusters, but within a fold the comparison is paired: each line is
# one fold. The score rises until the true number of clusters and then stays flat or
# drops slightly: extra clusters predict nothing more and are estimated from fewer cells.
# Prefer the smallest number of clusters whose score is not clearly below the best one.
fold_scores = np.array(
    [search.cv_results_[f"split{i}_test_score"] for i in range(search.n_splits_)]
)
fig, ax = plt.subplots(figsize=(6, 4))
for i, scores in enumerate(fold_scores):
    ax.plot(candidates, scores, marker="o", label=f"fold {i + 1}")
ax.axvline(3, color="grey", linestyle=":", label="planted")
ax.set_xlabel("n_clusters")
ax.set_ylabel("held-out log-likelihood per cell (score)")
ax.set_xticks(candidates)
ax.legend()
fig.tight_layout()

# %%
# The refitted estimator
# ----------------------
# ``best_estimator_`` is refitted on all the rows with the chosen number of clusters.
best = search.best_estimator_
cari = coclustering_adjusted_rand_score(
    row_truth, column_truth, best.row_labels_, best.column_labels_
)
print(f"co-clustering ARI of the refitted estimator: {cari:.3f}")

plt.show()
