"""``limits``: change the worker count and the resource caps at run time.
CLI: ``batchctl limits [--workers N] [--cpu P] [--worker-memory MB] [--total-memory MB]``.

The change lasts until the daemon restarts; put it in the config file to keep it. Values are
checked like config keys (same names, same ranges).
"""

from __future__ import annotations

import dataclasses
import logging

from batchd.daemon.config import limits_of, parse_config
from batchd.daemon.context import DaemonContext
from batchd.daemon.errors import ConfigError
from batchd.protocol.errors import InvalidArguments
from batchd.protocol.messages import LimitsInForce, LimitsRequest

log = logging.getLogger(__name__)


def handle(ctx: DaemonContext, request: LimitsRequest) -> LimitsInForce:
    """Apply the given limits to the pool and the scheduler; report what is in force."""
    changes = {k: v for k, v in dataclasses.asdict(request).items() if v is not None}
    if changes:
        try:
            config = parse_config(changes, "limits request", ctx.config)
        except ConfigError as exc:
            raise InvalidArguments(str(exc).removeprefix("limits request: ")) from None
        engine = ctx.engine
        pool = engine.executor
        if config.max_workers != ctx.config.max_workers:
            pool.resize(config.max_workers)
            engine.settings.workers = config.max_workers
        set_limits = getattr(pool, "set_limits", None)
        if set_limits is not None:
            set_limits(limits_of(config))
        ctx.config = config
        log.info("limits changed at run time: %s", changes)
    return in_force(ctx)


def in_force(ctx: DaemonContext) -> LimitsInForce:
    """The limits in force (the config's, and how the pool enforces memory caps), as the
    protocol reports them."""
    config = ctx.config
    executor = ctx.batch_engine.executor if ctx.batch_engine is not None else None
    enforcement = getattr(executor, "memory_enforcement", "psutil")
    return LimitsInForce(
        max_workers=config.max_workers,
        enable_checkpoint=config.enable_checkpoint,
        enable_rollback=config.enable_rollback,
        cpu_limit_percent=config.cpu_limit_percent,
        worker_memory_limit_mb=config.worker_memory_limit_mb,
        total_memory_limit_mb=config.total_memory_limit_mb,
        memory_enforcement=enforcement if isinstance(enforcement, str) else "psutil",
    )
