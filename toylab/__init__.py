"""toylab: optimizer toy problems as batched tensor programs."""
import sys
from pathlib import Path

if Path(sys.argv[0]).name == "toylab":  # the command: Ctrl-C while torch loads is one line too
    import os
    import signal

    def _one_line_interrupt(kind, value, tb, previous=sys.excepthook):
        if issubclass(kind, KeyboardInterrupt):
            print("toylab: interrupted", file=sys.stderr)
        else:
            previous(kind, value, tb)

    def _interrupt(signum, frame):
        """Ctrl-C raises KeyboardInterrupt, except inside an import: an interrupted import can leave
        a module half loaded (numpy then fails with "cannot load module more than once"), and a
        library's bare `except` can swallow it. There the command says one line and exits 130."""
        while frame is not None:
            if frame.f_code.co_filename.startswith("<frozen importlib"):
                sys.stderr.write("toylab: interrupted\n")
                sys.stderr.flush()
                os._exit(130)
            frame = frame.f_back
        raise KeyboardInterrupt

    sys.excepthook = _one_line_interrupt
    signal.signal(signal.SIGINT, _interrupt)

__version__ = "0.1.0"
