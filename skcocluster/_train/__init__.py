"""Training loops of the two models, their stopping rule and progress reporting."""
