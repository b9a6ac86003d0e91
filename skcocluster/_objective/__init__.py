"""Terms of the training objectives: the reconstruction of the cells and the terms added to it."""
