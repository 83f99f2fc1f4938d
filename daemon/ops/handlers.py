"""``call`` handlers: Python objects that packages register under the entry-point group
``batchd.handlers``. Nothing else is loaded: no paths, no modules by name.

The handler API (see ``docs/handlers.md``): the entry point names an object (a module, a
class instance, anything with these two callables)::

    def paths(path: str, args: dict) -> list[str]:
        '''The paths run() will change (create, modify or remove), absolute or relative to
        path's directory; the daemon keeps a copy of each existing one for undo first.'''

    def run(path: str, args: dict) -> str | None:
        '''Do the work on path; return a short result (shown by `batchctl show`) or None.
        Raise to fail the item (permanently).'''

``path`` is the item's path as ``str`` (undecodable bytes as surrogate escapes, as
``os.fsdecode`` gives them); ``args`` is the plan item's ``args`` map.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Final, Protocol, cast

GROUP: Final = "batchd.handlers"


class Handler(Protocol):
    """What an entry point of group ``batchd.handlers`` must name."""

    def paths(self, path: str, args: dict[str, Any]) -> list[str]:
        """The paths ``run`` will change, so their originals can be kept for undo."""
        ...

    def run(self, path: str, args: dict[str, Any]) -> str | None:
        """Do the work; return a short result or None."""
        ...


class UnknownHandler(LookupError):
    """Raised by :meth:`HandlerRegistry.get` for a name no installed package registers."""

    def __init__(self, name: str, installed: list[str]) -> None:
        listing = ", ".join(installed) if installed else "none"
        super().__init__(
            f"no handler named {name!r} is installed (installed: {listing}); "
            f"a package must register it under the entry-point group {GROUP!r}"
        )
        self.name = name


class BadHandler(TypeError):
    """Raised when an entry point's object lacks callable ``paths`` and ``run``."""


class HandlerRegistry:
    """Installed handlers, looked up by name on first use and cached afterwards."""

    def __init__(self, group: str = GROUP) -> None:
        self.group = group
        self._loaded: dict[str, Handler] = {}

    def names(self) -> list[str]:
        """Names of the installed handlers, sorted."""
        return sorted({point.name for point in importlib.metadata.entry_points(group=self.group)})

    def get(self, name: str) -> Handler:
        """The handler ``name``; raises UnknownHandler, BadHandler, or what importing raises."""
        cached = self._loaded.get(name)
        if cached is not None:
            return cached
        points = importlib.metadata.entry_points(group=self.group, name=name)
        if not points:
            raise UnknownHandler(name, self.names())
        loaded: object = next(iter(points)).load()
        if not (
            callable(getattr(loaded, "paths", None)) and callable(getattr(loaded, "run", None))
        ):
            raise BadHandler(f"handler {name!r} lacks callable paths() and run()")
        handler = cast(Handler, loaded)
        self._loaded[name] = handler
        return handler
