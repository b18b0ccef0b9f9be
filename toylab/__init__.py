"""toylab: optimizer toy problems as batched tensor programs."""
from . import runtime

__version__ = "0.1.0"

runtime.configure()
