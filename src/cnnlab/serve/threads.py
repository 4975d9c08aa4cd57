"""How many threads a served model's engine computes with, when the server is not told: every core this process may
use but one, which is left to the event loop (HTTP, multipart parsing, the answers). An engine given every core
competes with the event loop that feeds it, and then neither keeps up."""

import os


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def engine_threads() -> int:
    """The engine's intra-op threads by default: the usable cores less one, at least one."""
    return max(1, usable_cores() - 1)
