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
* Reproducible BLAS: MKL's kernels round differently with the memory alignment of their operands
  (measured: a config's `[2, 32] @ [32, 9]` product changes with the offset of its output in a
  batch's buffer), so a config's numbers would follow its place in the batch. MKL's Conditional
  Numerical Reproducibility (`MKL_CBWR=AUTO`: the code path chosen for this processor, with
  results independent of alignment) is switched on before MKL computes anything (by the command,
  and by importing `toylab.batched`, which the engine does); a `MKL_CBWR` in the environment
  takes precedence. README, What is reproducible.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

from .options import UserError

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MKL_CBWR_BRANCH, MKL_CBWR_AUTO = 1, 2  # mkl_service.h
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
TRIM_THRESHOLD = 2**30


def threads() -> int:
    """`TOYLAB_THREADS` as a positive integer (default 1); a one-line `UserError` otherwise."""
    text = os.environ.get("TOYLAB_THREADS", "1")
    if not text.strip().isdigit() or int(text) < 1:
        raise UserError(f"TOYLAB_THREADS={text!r} is not a positive integer; allowed: 1, 2, ... (default 1)")
    return int(text)


def configure() -> int:
    """Set torch's thread count from `threads()`, keep freed memory and make MKL reproducible;
    returns the threads."""
    import torch

    count = threads()
    torch.set_num_threads(count)
    keep_freed_memory()
    reproducible_blas()
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


def _mkl_service(name: str):
    """A function of the MKL linked into torch (None where torch has no MKL)."""
    import torch

    for path in sorted((Path(torch.__file__).parent / "lib").glob("libtorch_cpu.*")):
        try:
            fn = getattr(ctypes.CDLL(str(path)), name)
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_int
        return fn
    return None


def reproducible_blas() -> bool:
    """Switch MKL to CNR mode (`MKL_CBWR=AUTO`) unless the environment chose a mode; True if MKL
    runs in a CNR mode now. Too late once MKL has computed something: then a warning."""
    get = _mkl_service("mkl_serv_cbwr_get")
    if get is None:
        return False
    if "MKL_CBWR" not in os.environ and get(MKL_CBWR_BRANCH) != MKL_CBWR_AUTO:
        if _mkl_service("mkl_serv_cbwr_set")(MKL_CBWR_AUTO) != 0:
            from .options import warn

            warn("MKL computed before toylab was imported, so its rounding may follow memory alignment "
                 "and a config's last bits its batch; import toylab first or set MKL_CBWR=AUTO")
            return False
    return get(MKL_CBWR_BRANCH) > 1
