"""The run layer: the only package that imports Ray (trainable, tuner, resume, progress,
cluster plumbing, the embedded local Ray)."""
