"""Fail instead of hanging: a SIGALRM deadline around an in-process read or run (POSIX, main thread)."""

import signal
from contextlib import contextmanager


@contextmanager
def deadline(seconds: int, hang: str = "a hang?"):
    """Raise AssertionError naming ``hang`` (what a timeout means) if the block runs past ``seconds``."""
    def expired(signum, frame):
        raise AssertionError(f"no result within {seconds} s ({hang})")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
