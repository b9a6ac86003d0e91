"""Choice of the numbers of clusters (``n_clusters='auto'``) and the block-model criteria."""
