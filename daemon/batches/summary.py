"""What the plan validator process hands back to the daemon: the summary file's name and the
limits on what it carries. Shared by both sides (``validator`` and ``uploads``) and cheap to
import, since the validator is a short-lived process whose start-up counts.

The file (``SUMMARY_NAME`` in the batch's directory) is msgpack ``[valid, total,
problem_count, [[line, message]…], [[index, line, op, path, dest, level]…]]``.
"""

from __future__ import annotations

from typing import Final

SUMMARY_NAME: Final = "validation.msgpack"
PROBLEMS_SHOWN: Final = 1000
"""Problems a summary lists at most (``problem_count`` counts them all)."""
PREVIEW_STEPS: Final = 1000
"""Steps a dry run previews at most."""
PREVIEW_BYTES: Final = 512 * 1024
"""Path bytes a preview carries at most, so the reply stays far below the message limit."""
