"""Process settings that make small batched programs fast on a shared CPU, set by the `toylab`
command once its inputs are checked (never by `import toylab`, so `--help` and bad input stay
free of torch's ~2 s import).

* Threads: `TOYLAB_THREADS` sets torch's thread count, 1 by default: on this project's 2-core
  machine a second thread gains little on toy tensors and stalls ~10 ms whenever another
  process holds a core (numbers: README, Performance).
* Freed memory is kept: every out-of-place op of the pure optimizers allocates a fresh
  `[K, *shape]` tensor; glibc hands blocks above its mmap threshold back to the OS on free, so
  each new one pays page faults on first touch (2–4× the op itself). Raising glibc's mmap and
  trim thresholds (`mallopt`) keeps those blocks in the process for reuse. No effect on other
  C libraries or on CUDA memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

from .options import UserError

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
TRIM_THRESHOLD = 2**30


def threads() -> int:
    """`TOYLAB_THREADS` as a positive integer (default 1); a one-line `UserError` otherwise."""
    text = os.environ.get("TOYLAB_THREADS", "1")
    if not text.strip().isdigit() or int(text) < 1:
        raise UserError(f"TOYLAB_THREADS={text!r} is not a positive integer; allowed: 1, 2, ... (default 1)")
    return int(text)


def configure() -> int:
    """Set torch's thread count from `threads()` and keep freed memory; returns the threads."""
    import torch

    count = threads()
    torch.set_num_threads(count)
    keep_freed_memory()
    return count


def keep_freed_memory() -> bool:
    """Raise glibc's mmap/trim thresholds; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError, TypeError):
        return False
