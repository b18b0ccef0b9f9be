"""toylab: optimizer toy problems as batched tensor programs."""
import os

import torch

__version__ = "0.1.0"

# Toy tensors gain nothing from threads on a small shared machine (README, Performance).
if "TOYLAB_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["TOYLAB_THREADS"]))
