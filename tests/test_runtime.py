"""Process settings: `import toylab` changes none but MKL's reproducible mode (which must precede
MKL's first product, so the engine's import sets it); `runtime.configure()`, which each entry
point calls, applies `TOYLAB_THREADS` (default 1) and glibc's thresholds."""
import os
import re
import subprocess
import sys

import pytest
import torch

from toylab import runtime
from toylab.options import UserError

IMPORT_EVERYTHING = """
import ctypes, sys, torch
torch.set_num_threads(3)
hook, opened, real = sys.excepthook, [], ctypes.CDLL
ctypes.CDLL = lambda *args, **kw: opened.append(args) or real(*args, **kw)
import toylab, toylab.cli, toylab.engine, toylab.experiments, toylab.report, toylab.bench.__main__
print(torch.get_num_threads(), sys.excepthook is hook, all("libtorch_cpu" in str(a[0]) for a in opened))
"""


def test_importing_toylab_leaves_threads_excepthook_and_allocator_alone():
    env = {**os.environ, "TOYLAB_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["3", "True", "True"], "threads and excepthook untouched; the only library opened is torch's MKL"


def test_configure_applies_toylab_threads_and_a_bad_value_is_one_line(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("TOYLAB_THREADS", "2")
        assert runtime.configure() == 2 and torch.get_num_threads() == 2
        monkeypatch.delenv("TOYLAB_THREADS")
        assert runtime.threads() == 1
        for bad in ("many", "0", "-1", ""):
            monkeypatch.setenv("TOYLAB_THREADS", bad)
            with pytest.raises(UserError, match="^" + re.escape(f"TOYLAB_THREADS={bad!r} is not a positive integer; "
                                                                  "allowed: 1, 2, ... (default 1)") + "$"):
                runtime.configure()
    finally:
        torch.set_num_threads(before)
