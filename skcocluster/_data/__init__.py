"""The data matrix on the training device: normalisation, cells and device resolution."""
