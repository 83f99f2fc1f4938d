"""Plans that tests submit again and again."""

from __future__ import annotations

import json
from pathlib import Path

from running_daemon import RunningDaemon
from trees import make_files


def plan_bytes(*items: dict[str, object]) -> bytes:
    """JSON Lines of ``items``."""
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def slow_batch(daemon: RunningDaemon, root: Path, count: int = 40) -> int:
    """Submit ``count`` transforms (x → y, ~50 ms each) of files in ``root/data``; the batch id."""
    data = root / "data"
    make_files(data, {f"f{i}": b"x\n" for i in range(count)})
    command = ["sh", "-c", "sleep 0.05; tr x y"]
    plan = plan_bytes(
        *({"op": "transform", "path": f"f{i}", "command": command} for i in range(count))
    )
    status = daemon.submit(plan, data)
    assert status.batch is not None, status.problems
    return status.batch
