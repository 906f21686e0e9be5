"""The GAN itself: targets, models, losses, metrics, optimizers, the step's pieces
(updates), the random streams, the evaluation and the trainer (Algorithm 1).

No Ray, no YAML, no study files: everything here is usable from a notebook or a test.
Files only where an image target reads its data and caches its classifier.
"""
