"""Running a plan over the virtual tree: every check that needs to know what exists, and the
dependency level of every step.

Items are simulated in plan order; a chain or cycle of moves runs as a whole, in its
execution order, when its last member is reached. Other items between its members must not
touch its paths (``watch.GroupWatch``).
"""

from __future__ import annotations

from batchd.daemon.ops.step import OpKind
from batchd.daemon.plan.fsview import FileSystemView
from batchd.daemon.plan.items import PlanItem
from batchd.daemon.plan.paths import parent_of, shown, temp_path
from batchd.daemon.plan.problems import ProblemSink
from batchd.daemon.plan.renames import FROM_TEMP, NORMAL, TO_TEMP, RenameGroup, Renames
from batchd.daemon.plan.steps import PlannedSteps
from batchd.daemon.plan.table import ItemTable
from batchd.daemon.plan.tree import (
    DELETED,
    DIR,
    FILE,
    LINK,
    MOVED,
    Dir,
    Gone,
    Leaf,
    Lookup,
    VirtualTree,
)
from batchd.daemon.plan.watch import GroupWatch

_HOW = {MOVED: "moved away", DELETED: "deleted"}


class _Invalid(Exception):
    """Raised inside one item's simulation with the message of its problem."""


def _size(entry: Leaf | Dir) -> int:
    return entry.size if type(entry) is Leaf else 0


class Simulator:
    """Simulates valid items of a plan; problems go to ``sink``, steps to ``steps``."""

    def __init__(
        self,
        items: ItemTable,
        renames: Renames,
        fs: FileSystemView,
        batch: int,
        sink: ProblemSink,
    ) -> None:
        self.items = items
        self.renames = renames
        self.fs = fs
        self.batch = batch
        self.sink = sink
        self.tree = VirtualTree(fs)
        self.steps = PlannedSteps(items, batch)
        self.between = GroupWatch(items, sink)
        self._link_targets: dict[bytes, bool] = {}  # real path of a symlink -> is_dir

    def run(self) -> None:
        """Simulate every item once."""
        items = self.items
        group_of = self.renames.group_of
        between = self.between
        for position in range(len(items)):
            op = items.kind(position)
            if op is None:
                continue
            group = group_of(position) if op is OpKind.MOVE else None
            if group is not None and group.paths and position == group.first:
                between.watch(group, True)
            if between.active:
                between.check(position, group)
            try:
                if group is not None:
                    if position == group.last and not group.broken:
                        self._group(group)
                elif op is OpKind.MOVE or op is OpKind.COPY:
                    # The common case reads the table's columns: no PlanItem is built.
                    path, dest = items.path(position), items.dest(position)
                    assert dest is not None
                    self._transfer(position, op, items.line(position), path, dest, variant=NORMAL)
                else:
                    item = items[position]
                    assert item is not None
                    self._item(position, item)
            except _Invalid as problem:
                self.sink.add(items.line(position), str(problem))
            except OSError as error:
                self.sink.add(items.line(position), f"cannot inspect the filesystem: {error}")
            if group is not None and group.paths and position == group.last:
                between.watch(group, False)

    # -- one item ---------------------------------------------------------------------------

    def _item(self, position: int, item: PlanItem) -> None:
        op = item.op
        look = self.tree.walk(item.path)
        if op is OpKind.MKDIR:
            self._mkdir(position, item, look)
            return
        entry = self._existing(look, "path")
        if op is OpKind.DELETE:
            level = self._level(look, True)
            self.tree.put(look, Gone(item.line, DELETED, level))
            self.tree.note(look, level, write=True)
        else:
            is_dir = type(entry) is Dir and entry.kind == DIR
            if op is OpKind.TRANSFORM and (type(entry) is not Leaf or entry.kind != FILE):
                raise _Invalid(f"transform needs a regular file; {shown(item.path)} is not one")
            if op is OpKind.CHECKSUM and is_dir:
                raise _Invalid(f"checksum needs a file; {shown(item.path)} is a directory")
            write = op is not OpKind.CHECKSUM
            level = self._level(look, write)
            self.tree.note(look, level, write=write)
        self.steps.add(position, NORMAL, level, _size(entry))

    def _mkdir(self, position: int, item: PlanItem, look: Lookup) -> None:
        self._check_parent(look, "directory")
        entry = look.present
        if entry is not None and (type(entry) is not Dir or entry.kind != DIR):
            raise _Invalid(f"cannot create directory {shown(item.path)}: a file exists there")
        # An existing directory makes the step a no-op; it still counts as a write, which
        # orders it with everything inside and keeps the rule simple.
        level = self._level(look, True)
        if entry is None:
            self.tree.put(look, Dir(DIR, item.line, None, item.path))
        self.tree.note(look, level, write=True)
        self.steps.add(position, NORMAL, level, 0)

    def _group(self, group: RenameGroup) -> None:
        for position, variant in group.order:
            item = self.items[position]
            assert item is not None and item.dest is not None
            temp = temp_path(item.path, self.batch, item.line)
            source = temp if variant == FROM_TEMP else item.path
            dest = temp if variant == TO_TEMP else item.dest
            try:
                self._transfer(position, item.op, item.line, source, dest, variant=variant)
            except _Invalid as problem:
                self.sink.add(item.line, str(problem))
                return  # the rest of the group would only report consequences

    def _transfer(
        self, position: int, op: OpKind, line: int, src: bytes, dst: bytes, *, variant: int
    ) -> None:
        """Move or copy ``src`` to ``dst`` for the item at ``position`` (of ``op`` and
        ``line``; a routed move calls this twice)."""
        tree = self.tree
        src_look = tree.walk(src)
        source = src_look.present or self._existing(
            src_look, "source", position if variant == NORMAL else -1
        )
        dst_look = tree.walk(dst)
        self._check_parent(dst_look, "destination")
        existing = dst_look.present
        if existing is not None:
            if variant == TO_TEMP:
                raise _Invalid(
                    f"the temporary name {shown(dst)} exists; remove it and submit again"
                )
            item = self.items[position]
            assert item is not None
            if self._is_case_alias(item, source, existing, variant):
                temp = temp_path(src, self.batch, line)
                self._transfer(position, op, line, src, temp, variant=TO_TEMP)
                # The destination was the source under another case; it has just left.
                tree.put(tree.walk(dst), Gone(line, MOVED, self.steps.levels[-1]))
                self._transfer(position, op, line, temp, dst, variant=FROM_TEMP)
                return
            self._check_destination(item, source, existing, dst)
        move = op is OpKind.MOVE
        level = 1 + max(
            VirtualTree.conflict_level(src_look, move), VirtualTree.conflict_level(dst_look, True)
        )
        if move:
            tree.put(src_look, Gone(line, MOVED, level))
            tree.note(src_look, level, write=True)
            moved = source
            moved.line = line
        else:
            tree.note(src_look, level, write=False)
            moved = tree.clone(source, line, level)
        tree.put(dst_look, moved)
        tree.note(dst_look, level, write=True)
        self.steps.add(position, variant, level, _size(source))

    # -- checks -----------------------------------------------------------------------------

    def _existing(self, look: Lookup, role: str, position: int = -1) -> Leaf | Dir:
        entry = look.present
        if entry is not None:
            return entry
        path = shown(look.path)
        gone = look.entry if look.reached else look.stop_entry
        if type(gone) is Gone:
            where = "" if look.reached else f" (with {shown(look.stop)})"
            raise _Invalid(f"{role} {path} was {_HOW[gone.how]} by line {gone.line}{where}")
        if isinstance(gone, Leaf):
            raise _Invalid(f"{role} {path} does not exist: {shown(look.stop)} is a file")
        message = f"{role} {path} does not exist (and no earlier line creates it)"
        earlier = self.renames.prev[position] if position >= 0 else -1
        if earlier >= 0:
            mover = self.items[earlier]
            assert mover is not None
            message += (
                f"; moves happen at once, so the move to it on line {mover.line} does not "
                f"provide it: move {shown(mover.path)} to its final name directly"
            )
        raise _Invalid(message)

    def _check_parent(self, look: Lookup, role: str) -> None:
        if look.reached and look.parent.kind != LINK:
            return
        parent = parent_of(look.path)
        if not look.reached:
            stop = look.stop_entry
            if type(stop) is Gone:
                raise _Invalid(
                    f"parent directory {shown(look.stop)} of {role} {shown(look.path)} was "
                    f"{_HOW[stop.how]} by line {stop.line}"
                )
            if stop is not None:
                raise _Invalid(f"{shown(look.stop)} is not a directory, so {role} "
                               f"{shown(look.path)} cannot be created")  # fmt: skip
            raise _Invalid(
                f"parent directory {shown(parent)} of {role} {shown(look.path)} does not exist "
                "(and no earlier line creates it)"
            )
        node = look.parent
        if node.kind == LINK and not (node.real is not None and self._leads_to_dir(node.real)):
            raise _Invalid(f"{shown(parent)} is a symlink that does not lead to a directory")

    def _leads_to_dir(self, real: bytes) -> bool:
        # Asked for every item below a symlinked directory; the real tree does not change.
        known = self._link_targets.get(real)
        if known is None:
            known = self._link_targets[real] = self.fs.is_dir(real)
        return known

    def _check_destination(
        self, item: PlanItem, source: Leaf | Dir, existing: Leaf | Dir, dst: bytes
    ) -> None:
        if existing.line:
            raise _Invalid(f"destination {shown(dst)} is also written by line {existing.line}")
        source_dir = type(source) is Dir and source.kind == DIR
        dest_dir = type(existing) is Dir and existing.kind == DIR
        verb = "move" if item.op is OpKind.MOVE else "copy"
        if source_dir and dest_dir:  # the ops refuse it too (move.refuse_kind_mismatch)
            raise _Invalid(
                f"cannot {verb} a directory onto the existing directory {shown(dst)}: "
                "batchd never merges directories"
            )
        if source_dir and not dest_dir:
            raise _Invalid(f"cannot {verb} a directory onto the file {shown(dst)}")
        if dest_dir and not source_dir:
            raise _Invalid(f"cannot {verb} a file onto the directory {shown(dst)}")
        if not item.overwrite:
            raise _Invalid(
                f'destination {shown(dst)} already exists; add "overwrite": true to replace it'
            )

    def _is_case_alias(
        self, item: PlanItem, source: Leaf | Dir, existing: Leaf | Dir, variant: int
    ) -> bool:
        """A case-only rename on a case-insensitive mount: the destination *is* the source."""
        if item.op is not OpKind.MOVE or variant != NORMAL or source.line or existing.line:
            return False
        src, dst = item.path, item.dest
        assert dst is not None
        if parent_of(src) != parent_of(dst) or src.lower() != dst.lower():
            return False
        before, after = self.fs.lstat(src), self.fs.lstat(dst)
        return before is not None and after is not None and before.same_inode(after)

    @staticmethod
    def _level(look: Lookup, write: bool) -> int:
        return 1 + VirtualTree.conflict_level(look, write)
