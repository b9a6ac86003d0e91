"""The refinement stage: block-model EM of a partition, held-out scores and the final choice."""
