"""toylab: optimizer toy problems as batched tensor programs."""
import sys
from pathlib import Path

if Path(sys.argv[0]).name == "toylab":  # the command: Ctrl-C while torch loads is one line too
    def _one_line_interrupt(kind, value, tb, previous=sys.excepthook):
        if issubclass(kind, KeyboardInterrupt):
            print("toylab: interrupted", file=sys.stderr)
        else:
            previous(kind, value, tb)

    sys.excepthook = _one_line_interrupt

__version__ = "0.1.0"
