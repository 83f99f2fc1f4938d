"""End to end under a real systemd: boot a container, install and start the shipped unit.

The container (``systemd-nspawn --volatile=overlay`` over a read-only bind of ``/``, made in
a private mount namespace) sees this machine's files, with every change going to a tmpfs
that vanishes at power-off. A oneshot unit inside runs ``INSIDE``: it installs batchd the way
docs/operations.md says (``/opt/batchd`` is a link to this venv), starts ``batchd.service``
through ``READY=1``, runs a batch with ``batchctl``, stops it cleanly, then wedges the main
loop on purpose (``BATCHD_TEST_WEDGE_AFTER``) and waits for the watchdog to restart it. The
results land in a bound directory under tmp_path.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from systemd_testing import REPO, UNITS, in_ci, require

DRIVER_UNIT = """\
[Unit]
Description=batchd end-to-end test driver

[Service]
Type=oneshot
ExecStart=/bin/sh /e2e/inside.sh
TimeoutStartSec=80
"""

INSIDE = r"""
E=/e2e
exec >"$E/inside.log" 2>&1
trap 'systemctl --no-block poweroff' EXIT
set -x
result() { echo "$1" >>"$E/results"; }
poll() {  # poll TRIES COMMAND...: run COMMAND every 0.1 s until it succeeds
  n=$1; shift; while ! "$@"; do n=$((n-1)); [ $n -gt 0 ] || return 1; sleep 0.1; done; }
# Only this container's overlay changes: let user batchd reach the test venv and its Python.
for d in $TRAVERSE; do chmod o+x "$d"; done
# The install, as docs/operations.md describes it.
ln -sfn "$VENV" /opt/batchd
install -m 0644 "$E/units/batchd.service" /etc/systemd/system/batchd.service
install -D -m 0644 "$E/units/batchd.sysusers" /etc/sysusers.d/batchd.conf
install -D -m 0644 "$E/units/batchd.tmpfiles" /etc/tmpfiles.d/batchd.conf
systemd-sysusers
systemd-tmpfiles --create /etc/tmpfiles.d/batchd.conf
mkdir -p /srv/e2e /etc/systemd/system/batchd.service.d
chown batchd:batchd /srv/e2e
printf '[Service]\nReadWritePaths=/srv/e2e\n' >/etc/systemd/system/batchd.service.d/roots.conf
printf 'allowed_roots = ["/srv/e2e"]\n' >>/etc/batchd/batchd.toml
# The test's batchd is an editable install in this checkout: keep the checkout and its venv
# visible to the service even where they live under /tmp (PrivateTmp= hides that).
printf '[Service]\nBindReadOnlyPaths=%s\n' "$DEVPATHS" \
  >/etc/systemd/system/batchd.service.d/dev.conf
systemctl daemon-reload

systemctl start batchd; result "start_rc=$?"
result "state=$(systemctl show -P ActiveState batchd)/$(systemctl show -P SubState batchd)"
result "status=$(systemctl show -P StatusText batchd)"
result "user=$(ps -o user= -p "$(systemctl show -P MainPID batchd)")"
/opt/batchd/bin/batchctl mkdir /srv/e2e/x --wait; result "batchctl_rc=$?"
[ -d /srv/e2e/x ] && result "made_by=$(stat -c %U /srv/e2e/x)"
/opt/batchd/bin/batchctl mkdir /etc/batchd-must-not --wait; result "outside_roots_rc=$?"
[ -e /etc/batchd-must-not ] && result "outside_roots=made"
journalctl -u batchd -o json --no-pager BATCH_ID=1 >"$E/batch1.json"
systemctl stop batchd
result "stop=$(systemctl show -P Result batchd)/$(systemctl show -P ExecMainStatus batchd)"

printf '[Service]\nWatchdogSec=2\nRestartSec=1\nTimeoutStopSec=3\n%s\n' \
  Environment=BATCHD_TEST_WEDGE_AFTER=1 >/etc/systemd/system/batchd.service.d/wedge.conf
systemctl daemon-reload
systemctl start batchd
first=$(systemctl show -P MainPID batchd)
restarted() { [ "$(systemctl show -P NRestarts batchd)" -ge 1 ] \
  && [ "$(systemctl show -P ActiveState batchd)" = active ]; }
poll 200 restarted; result "restarted_rc=$?"
result "restarts=$(systemctl show -P NRestarts batchd)"
result "pids=$first,$(systemctl show -P MainPID batchd)"
journalctl -u batchd --no-pager >"$E/unit.log"
result "done"
"""


def _needs_traverse(paths: list[Path]) -> list[str]:
    """Directories on the way to ``paths`` that others cannot enter (e.g. /root)."""
    found: list[str] = []
    for path in paths:
        for parent in [path, *path.parents]:
            info = parent.stat()
            if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IXOTH:
                found.append(str(parent))
    return sorted(set(found))


def _results(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(
        line.split("=", 1) if "=" in line else (line, "")
        for line in path.read_text().split("\n")
        if line
    )


@pytest.mark.slow
def test_unit_starts_serves_stops_and_is_restarted_by_the_watchdog(tmp_path: Path) -> None:
    require("systemd-nspawn", "unshare", root=True)
    if not Path("/lib/systemd/systemd").exists():
        (pytest.fail if in_ci() else pytest.skip)("systemd (the init) is not installed")
    share = tmp_path / "e2e"
    (share / "units").mkdir(parents=True)
    for name in ("batchd.service", "batchd.sysusers", "batchd.tmpfiles"):
        (share / "units" / name).write_text((UNITS / name).read_text())
    venv = Path(sys.executable).parent.parent
    traverse = _needs_traverse([Path(sys.executable).resolve().parent, REPO, venv])
    devpaths = f"{REPO} {venv}"
    (share / "inside.sh").write_text(
        f"VENV={venv}\nTRAVERSE='{' '.join(traverse)}'\nDEVPATHS='{devpaths}'\n{INSIDE}"
    )
    (share / "batchd-e2e.service").write_text(DRIVER_UNIT)
    root = tmp_path / "root"
    root.mkdir()
    boot = (
        # A tmpfs on /run keeps nspawn's own bookkeeping (/run/systemd/nspawn) off the host.
        f"mount --bind / {root} && mount -o remount,bind,ro {root} && "
        "mount -t tmpfs -o mode=0755 tmpfs /run && "
        f"exec systemd-nspawn --directory={root} --volatile=overlay --private-network "
        "--register=no --keep-unit --link-journal=no --console=read-only --boot "
        f"--bind={share}:/e2e "
        # The checkout (with its venv) may live where the container has a fresh tmpfs (/tmp).
        f"--bind-ro={REPO} "
        f"--bind-ro={share}/batchd-e2e.service:/etc/systemd/system/batchd-e2e.service "
        "systemd.wants=batchd-e2e.service"
    )
    console = tmp_path / "console.log"
    with console.open("wb") as out:
        subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", boot],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=90,
            env={**os.environ, "SYSTEMD_COLORS": "0"},
            check=False,
        )
    results = _results(share / "results")
    inside = (share / "inside.log").read_text() if (share / "inside.log").exists() else ""
    why = (
        f"results {results}\n--- inside:\n{inside[-4000:]}\n--- console:\n"
        + console.read_text(errors="replace")[-4000:]
    )
    assert "done" in results, why
    assert results["start_rc"] == "0", why
    assert results["state"] == "active/running", why
    assert results["status"] == "ready; idle", why
    assert results["user"] == "batchd", why
    assert (results["batchctl_rc"], results.get("made_by")) == ("0", "batchd"), why
    # /etc is outside the allowed roots (and not among the ReadWritePaths): refused.
    assert results["outside_roots_rc"] == "1" and "outside_roots" not in results, why
    assert results["stop"] == "success/0", why
    entries = [json.loads(line) for line in (share / "batch1.json").read_text().splitlines()]
    assert any("accepted" in e["MESSAGE"] for e in entries), why
    assert results["restarted_rc"] == "0", why
    first, second = results["pids"].split(",")
    assert first != second, why
    assert "Watchdog timeout" in (share / "unit.log").read_text(), why
