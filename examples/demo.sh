#!/usr/bin/env bash
# The Quick start demo (`make demo`): start batchd on a throw-away state directory, talk to it
# with batchctl, stop it cleanly, start it again and show that it knows the stop was clean.
set -euo pipefail
bin=${VENV:-.venv}/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/batchd-demo.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ctl() { "$bin/batchctl" --runtime-dir "$work/run" "$@"; }

start() {
  "$bin/batchd" --state-dir "$work/state" --runtime-dir "$work/run" 2>>"$work/batchd.log" &
  pid=$!
  for _ in $(seq 100); do ctl --timeout 0.2 ping >/dev/null 2>&1 && return; sleep 0.05; done
  cat "$work/batchd.log"; echo "batchd did not start" >&2; exit 1
}

echo "== starting batchd (state: $work/state, sockets: $work/run)"
start
echo "== batchctl ping"; ctl ping
echo "== batchctl stats"; ctl stats
echo "== batchctl --json ping"; ctl --json ping; echo
echo "== stopping with SIGTERM"; kill -TERM "$pid"; wait "$pid"; echo "batchd exited with $?"; pid=""
echo "== starting again: the journal says the last stop was clean"
start
ctl ping | grep -i clean
kill -TERM "$pid"; wait "$pid"; pid=""
echo "== daemon log"; cat "$work/batchd.log"
