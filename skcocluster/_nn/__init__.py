"""Torch modules of the co-clustering models (no numpy or sklearn in here)."""
