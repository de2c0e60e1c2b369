#!/usr/bin/env bash
# `make run`: the gateway and the worker together on one machine, stores on the local disk.
# Ctrl-C stops both (the worker finishes the merge in progress first).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
export STORE_ROOT="${STORE_ROOT:-./data/stores}"
export QUEUE_DIR="${QUEUE_DIR:-./data/queue}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$STORE_ROOT" "$QUEUE_DIR"

pids=()
stop() {
    trap - INT TERM
    echo "run_local: stopping gateway and worker" >&2
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap stop INT TERM

"$PYTHON" -m gateway & pids+=($!)
"$PYTHON" -m worker & pids+=($!)
echo "run_local: gateway pid ${pids[0]}, worker pid ${pids[1]}; stores in $STORE_ROOT, queue in $QUEUE_DIR" >&2

# Whichever stops first (crash, bad configuration) stops the other: no half-running system.
wait -n || true
stop
