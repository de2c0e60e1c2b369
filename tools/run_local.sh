#!/usr/bin/env bash
# `make run`: the gateway and the worker together on one machine, stores on the local disk.
# Ctrl-C stops both (the worker finishes the merge in progress first).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${ZARR_INGRESS_PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
# Local stores unless the environment or .env says otherwise (both processes read .env too).
in_dotenv() { [ -f .env ] && grep -Eq "^[[:space:]]*$1=" .env; }
if [ -z "${STORE_ROOT:-}" ] && ! in_dotenv STORE_ROOT; then export STORE_ROOT=./data/stores; fi
if [ -z "${QUEUE_DIR:-}" ] && ! in_dotenv QUEUE_DIR; then export QUEUE_DIR=./data/queue; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

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
echo "run_local: gateway pid ${pids[0]}, worker pid ${pids[1]} (Ctrl-C stops both)" >&2

# Whichever stops first (crash, bad configuration) stops the other: no half-running system.
wait -n || true
stop
