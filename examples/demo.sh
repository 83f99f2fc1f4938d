#!/usr/bin/env bash
# The Quick start demo (`make demo`): batchd's main job on a sample tree.
# It starts batchd on a throw-away state directory, builds a tree of a few hundred files, runs
# one batch that sorts, renames, transforms, checksums and cleans them up with live progress,
# shows the result, rolls the whole batch back (the tree is byte for byte the original again),
# and stops the daemon cleanly.
set -euo pipefail
bin=$(cd "${VENV:-.venv}/bin" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/batchd-demo.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ctl() { "$bin/batchctl" --runtime-dir "$work/run" "$@"; }

echo "== starting batchd (state: $work/state, sockets: $work/run)"
"$bin/batchd" --state-dir "$work/state" --runtime-dir "$work/run" 2>>"$work/batchd.log" &
pid=$!
for _ in $(seq 100); do ctl --timeout 0.2 ping >/dev/null 2>&1 && break; sleep 0.05; done
ctl ping

echo "== building a sample tree in $work/demo"
mkdir -p "$work/demo/inbox" && cd "$work/demo"
for i in $(seq -w 1 120); do head -c $((2000 + 10#$i * 97)) /dev/urandom > "inbox/IMG_$i.JPG"; done
for i in $(seq -w 1 80); do printf 'note %s: remember the milk\n' "$i" > "inbox/note-$i.txt"; done
for i in $(seq -w 1 60); do printf 'debug line %s\n' "$i" > "inbox/app-$i.log"; done
printf 'first\n' > a.txt; printf 'second\n' > b.txt
echo "inbox: $(ls inbox | wc -l) files"
fingerprint() { find . -path ./plan.jsonl -prune -o -type f -printf '%p %s %m %T@\n' | sort | sha256sum | cut -c1-16; }
original=$(fingerprint)

echo "== writing plan.jsonl: sort photos, rename them, upper-case notes, checksum, drop logs, swap a/b"
{
  echo '{"op": "mkdir", "path": "photos"}'
  echo '{"op": "mkdir", "path": "notes"}'
  for f in inbox/IMG_*.JPG; do
    n=${f#inbox/IMG_}; n=${n%.JPG}
    echo "{\"op\": \"move\", \"src\": \"$f\", \"dst\": \"photos/photo-$n.jpg\"}"
  done
  for f in inbox/note-*.txt; do
    echo "{\"op\": \"transform\", \"path\": \"$f\", \"command\": [\"tr\", \"a-z\", \"A-Z\"]}"
    echo "{\"op\": \"copy\", \"src\": \"$f\", \"dst\": \"notes/${f#inbox/}\"}"
  done
  for f in inbox/app-*.log; do echo "{\"op\": \"delete\", \"path\": \"$f\"}"; done
  echo '{"op": "checksum", "path": "a.txt", "algorithm": "sha256"}'
  echo '{"op": "move", "src": "a.txt", "dst": "b.txt"}'
  echo '{"op": "move", "src": "b.txt", "dst": "a.txt"}'
} > plan.jsonl
echo "plan: $(wc -l < plan.jsonl) items"

echo "== batchctl submit plan.jsonl --dry-run (first lines)"
ctl submit plan.jsonl --dry-run > dry-run.txt; head -8 dry-run.txt; rm dry-run.txt

echo "== batchctl submit plan.jsonl --name demo --watch"
ctl submit plan.jsonl --name demo --watch
batch=$(ctl --json list --all | "$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["batches"][-1]["id"])')

echo "== batchctl progress $batch --json"
ctl --json progress "$batch"; echo
echo "== batchctl show $batch (checksum item)"
ctl show "$batch" | grep -i checksum || true
echo "== result"
echo "photos: $(ls photos | wc -l) files, e.g. $(ls photos | head -3 | tr '\n' ' ')"
echo "notes:  $(ls notes | wc -l) copies, e.g. $(head -1 "notes/$(ls notes | head -1)")"
echo "inbox:  $(ls inbox | wc -l) files left (the upper-cased notes)"
echo "a.txt now says '$(cat a.txt)', b.txt says '$(cat b.txt)' (swapped)"
echo "== batchctl rollback $batch --dry-run (first lines)"
ctl rollback "$batch" --dry-run > undo.txt || true; head -6 undo.txt; tail -1 undo.txt; rm undo.txt
echo "== batchctl rollback $batch --wait"
ctl rollback "$batch" --wait
echo "inbox: $(ls inbox | wc -l) files again; photos/ and notes/ $( [ -e photos ] || [ -e notes ] && echo still exist || echo are gone)"
echo "a.txt says '$(cat a.txt)', b.txt says '$(cat b.txt)'"
if [ "$(fingerprint)" = "$original" ]; then
  echo "every file is back byte for byte, with its mode and mtime"
else
  echo "the tree differs from the original!" >&2; exit 1
fi
echo "== batchctl history"
ctl history
echo "== batchctl list --all"
ctl list --all

echo "== stopping batchd with SIGTERM"
kill -TERM "$pid"; wait "$pid"; echo "batchd exited with $?"; pid=""
