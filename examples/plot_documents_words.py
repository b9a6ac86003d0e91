"""
==========================================
Co-clustering documents and words (CSTR)
==========================================

The CSTR corpus ships with the package (:func:`~skcocluster.datasets.load_cstr`): 475
abstracts of computer science technical reports x 1000 words, word counts, and the
research area of each report (4 classes). We co-cluster documents and words into 4 groups
each, score the document clusters against the classes with the normalised mutual
information (NMI), and compare with :class:`~sklearn.cluster.SpectralCoclustering`.

The deep estimator is fitted on the binary pattern ``X > 0`` (does a document use a
word?), the input its corpus benchmarks were measured on; the spectral method on the
counts and on their tf-idf weights, its usual inputs.
"""

# %%
# Load the corpus
# ---------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import SpectralCoclustering
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.metrics import normalized_mutual_info_score

from skcocluster import DeepLatentBlockCoclustering
from skcocluster.datasets import load_cstr
from skcocluster.plotting import plot_reordered_matrix

# This page trains for fewer epochs than the defaults so that it builds in seconds; the
# estimator then warns that training stopped at ``max_iter``. Silenced here, not in your
# own code: there, the warning says to train longer.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

corpus = load_cstr()
X, classes = corpus.data, corpus.row_labels
print(f"{X.shape[0]} documents x {X.shape[1]} words, {X.nnz} nonzero counts")
print("class sizes:", np.bincount(classes))

# %%
# Fit and compare the document clusters
# -------------------------------------
# Fewer epochs than the defaults (``pretrain_epochs=100, max_iter=100``) keep this page
# fast; on CSTR the defaults give the same document NMI.
deep = DeepLatentBlockCoclustering(
    n_clusters=4, pretrain_epochs=100, max_iter=100, random_state=0
).fit(X > 0)

tfidf = TfidfTransformer().fit_transform(X)
spectral_counts = SpectralCoclustering(n_clusters=4, random_state=0).fit(X)
spectral_tfidf = SpectralCoclustering(n_clusters=4, random_state=0).fit(tfidf)

for name, model in [
    ("DeepLatentBlockCoclustering (X > 0)", deep),
    ("SpectralCoclustering (counts)", spectral_counts),
    ("SpectralCoclustering (tf-idf)", spectral_tfidf),
]:
    nmi = normalized_mutual_info_score(classes, model.row_labels_)
    print(f"{name:38s} document NMI {nmi:.3f}")
print("deep estimator's final partition from:", deep.refined_from_)

# %%
# The top words of each word cluster
# ----------------------------------
# With ``n_clusters=4``, word cluster k is paired with document cluster k: it is the word
# cluster that documents of cluster k use most. Within a word cluster, we rank the words
# by how many documents of the paired document cluster use them.
#
# The CSTR source has no vocabulary (``corpus.feature_names`` is None), so the words are
# shown by their column index; with a corpus that has one (e.g. one loaded by
# :func:`~skcocluster.datasets.load_matlab` with ``feature_names_key``), the same code
# prints the words.
names = corpus.feature_names
if names is None:
    names = [f"word#{j}" for j in range(X.shape[1])]
binary = (X > 0).astype(np.float64).tocsr()

for k in range(4):
    documents = deep.row_labels_ == k
    words = np.flatnonzero(deep.column_labels_ == k)
    usage = np.asarray(binary[documents][:, words].sum(axis=0)).ravel()
    top = words[np.argsort(-usage)[:8]]
    majority = np.bincount(classes[documents], minlength=4).argmax()
    print(
        f"cluster {k}: {documents.sum():3d} documents (mostly class {majority}), "
        f"{words.size:3d} words; top: {', '.join(names[j] for j in top)}"
    )

# %%
# The block structure
# -------------------
# ``block_probabilities_`` holds the fraction of ones in each (document cluster, word
# cluster) block: the diagonal blocks are several times denser than the others, each
# group of documents using its own vocabulary. The reordered matrix shows it.
print("block probabilities (documents x words):\n", deep.block_probabilities_.round(3))

fig, ax = plt.subplots(figsize=(7, 4.5))
plot_reordered_matrix(X > 0, deep.row_labels_, deep.column_labels_, ax=ax)
ax.set_title("CSTR, X > 0, sorted by the deep estimator's clusters")
fig.tight_layout()
plt.show()
