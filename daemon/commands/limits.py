"""``limits``: change the worker count and the resource caps at run time.
CLI: ``batchctl limits [--workers N] [--cpu P] [--worker-memory MB] [--total-memory MB]``
and ``batchctl limits --batch ID --cpu P`` (one batch's CPU cap; 100 removes it).

The change lasts until the daemon restarts; put it in the config file to keep it. Values are
checked like config keys (same names, same ranges). A batch's CPU cap is dropped when the
batch ends, and is never in the config file.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol, runtime_checkable

from batchd.daemon.batches.batch import Batch
from batchd.daemon.config import limits_of, parse_config
from batchd.daemon.context import DaemonContext
from batchd.daemon.errors import ConfigError
from batchd.daemon.pool.limits import Limits
from batchd.protocol.errors import InvalidArguments
from batchd.protocol.messages import BatchCpuLimit, LimitsInForce, LimitsRequest

log = logging.getLogger(__name__)


@runtime_checkable
class CappedPool(Protocol):
    """An executor with resource limits (the local worker pool is one)."""

    @property
    def limits(self) -> Limits:
        """The resource limits in force."""
        ...

    def set_limits(self, limits: Limits) -> None:
        """Change the resource limits."""
        ...


def handle(ctx: DaemonContext, request: LimitsRequest) -> LimitsInForce:
    """Apply the given limits to the pool and the scheduler; report what is in force."""
    if request.batch is not None:
        _set_batch_cap(ctx, request.batch, request)
        return in_force(ctx)
    changes = {
        k: v for k, v in dataclasses.asdict(request).items() if v is not None and k != "batch"
    }
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
        if isinstance(pool, CappedPool):
            caps = pool.limits.batch_cpu_percent  # a batch's cap outlives global changes
            pool.set_limits(dataclasses.replace(limits_of(config), batch_cpu_percent=caps))
        else:
            set_limits = getattr(pool, "set_limits", None)
            if set_limits is not None:
                set_limits(limits_of(config))
        ctx.config = config
        log.info("limits changed at run time: %s", changes)
    return in_force(ctx)


def _set_batch_cap(ctx: DaemonContext, batch_id: int, request: LimitsRequest) -> None:
    """Set (or with 100 remove) the CPU cap of batch ``batch_id``; only the CPU cap has a
    per-batch form."""
    others = (request.max_workers, request.worker_memory_limit_mb, request.total_memory_limit_mb)
    if any(value is not None for value in others):
        raise InvalidArguments(
            "with batch, only cpu_limit_percent can be given (the worker count and the memory "
            "caps are the daemon's, not a batch's); send them in a request without batch"
        )
    engine = ctx.engine
    batch = engine.registry.get(batch_id)  # BatchNotFound for an unknown id
    percent = request.cpu_limit_percent
    if percent is None:
        return  # only asks what is in force
    if not 1 <= percent <= 100:
        raise InvalidArguments(
            f"cpu_limit_percent of batch {batch.id} must be 1 to 100 (100: no cap), got {percent}"
        )
    if batch.ended is not None:
        raise InvalidArguments(
            f"batch {batch.id} has ended ({batch.state.value}); a CPU cap acts only on a "
            "batch that is still running or waiting"
        )
    pool = engine.executor
    if not isinstance(pool, CappedPool):
        raise InvalidArguments("this daemon's executor has no per-batch CPU caps")
    pool.set_limits(pool.limits.with_batch_cpu(batch.id, percent))
    dropper = _DropCapWhenBatchEnds(pool)
    if dropper not in engine.ended_hooks:
        engine.ended_hooks.append(dropper)
    log.info("CPU cap of batch %d set to %d %% at run time", batch.id, percent)


@dataclasses.dataclass(frozen=True)
class _DropCapWhenBatchEnds:
    """An ended-batch hook of the engine: a batch that ended loses its CPU cap (its id is
    never reused, so the cap could only linger in the figures)."""

    pool: CappedPool

    def __call__(self, batch: Batch) -> None:
        limits = self.pool.limits
        if limits.batch_cpu(batch.id) is not None:
            self.pool.set_limits(limits.with_batch_cpu(batch.id, None))
            log.info("batch %d ended; its CPU cap is dropped", batch.id)


def in_force(ctx: DaemonContext) -> LimitsInForce:
    """The limits in force (the config's, the running batches' CPU caps, and how the pool
    enforces memory caps), as the protocol reports them."""
    config = ctx.config
    engine = ctx.batch_engine
    executor: object = engine.executor if engine is not None else None
    enforcement = getattr(executor, "memory_enforcement", "psutil")
    batch_caps: tuple[BatchCpuLimit, ...] = ()
    if engine is not None and isinstance(executor, CappedPool):
        active = {batch.id for batch in engine.registry.active()}
        batch_caps = tuple(
            BatchCpuLimit(batch, percent)
            for batch, percent in executor.limits.batch_cpu_percent
            if batch in active
        )
    return LimitsInForce(
        max_workers=config.max_workers,
        enable_checkpoint=config.enable_checkpoint,
        enable_rollback=config.enable_rollback,
        cpu_limit_percent=config.cpu_limit_percent,
        worker_memory_limit_mb=config.worker_memory_limit_mb,
        total_memory_limit_mb=config.total_memory_limit_mb,
        memory_enforcement=enforcement if isinstance(enforcement, str) else "psutil",
        batch_cpu_limits=batch_caps,
    )
