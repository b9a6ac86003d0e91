"""Options that plug into the models: the clustering module, the graph regulariser, facets."""
