"""Text for the person at the other end of stdout or stderr, who may stop reading.

`smartcron-wrap --dry-run … | head -1` closes the pipe once `head` has its line. A
reader that has read enough is no error of ours: what it did not take is dropped,
and the wrapper ends with the status it would have had. Only the modes that print
for a person use this; a run's own messages go through passthrough.py.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


def show(text: str) -> None:
    """`text` and a newline on stdout (the plan, --help, --version)."""
    _write(sys.stdout, text + "\n")


def complain(message: str) -> None:
    """One `smartcron-wrap: error:` line on stderr."""
    _write(sys.stderr, f"smartcron-wrap: error: {message}\n")


def is_terminal(fd: int) -> bool:
    """Whether a person is at this descriptor (a closed one is no terminal)."""
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _write(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        # What is still buffered would fail again when Python flushes the stream at
        # exit (and print "Exception ignored"): the descriptor goes to /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
