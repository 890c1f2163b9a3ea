"""Training and evaluation engine: the epoch loop, checkpoints, post-processing and the training CLI."""
