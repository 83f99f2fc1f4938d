"""CPU priority that survives a new session.

With ``kernel.sched_autogroup_enabled`` (the default on many distributions), every new
session is its own scheduling group and groups share the CPU as equals, so a process's nice
value only ranks it within its group. Workers and transform commands start new sessions (so
they can be killed as a group); each sets its group's nice too, or a "nice 10" worker would
compete with the daemon as an equal.
"""

from __future__ import annotations

import os

AUTOGROUP = "/proc/self/autogroup"


def nice_own_autogroup() -> None:
    """Give this process's scheduling group the process's own nice value (best effort: no
    autogroup support, or a refusal, leaves it as it is). Safe in a ``preexec_fn``."""
    try:
        fd = os.open(AUTOGROUP, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, str(os.getpriority(os.PRIO_PROCESS, 0)).encode())
    except OSError:
        pass
    finally:
        os.close(fd)
