"""The local worker pool: the first implementation of the daemon's executor interface.

``executor`` holds the interface and its events, ``framing`` the pipe protocol's frames,
``messages`` the messages themselves, ``board`` the shared progress board, ``decisions`` the
supervision decisions as pure functions, ``supervisor`` the ``WorkerPool`` and ``worker`` the
worker process (``python -m batchd.daemon.pool.worker``).
"""
