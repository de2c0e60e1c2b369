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
# A trial on a laptop listens on loopback only; HOST=0.0.0.0 opens it to the network.
if [ -z "${HOST:-}" ] && ! in_dotenv HOST; then export HOST=127.0.0.1; fi
PORT_SHOWN="${PORT:-$(in_dotenv PORT && sed -n 's/^[[:space:]]*PORT=//p' .env | tail -n 1 || echo 8000)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

pids=()
stopping=0
stop() {
    stopping=1
    trap - INT TERM
    echo "run_local: stopping gateway and worker" >&2
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap stop INT TERM

"$PYTHON" -m gateway & pids+=($!)
"$PYTHON" -m worker & pids+=($!)
echo "run_local: gateway pid ${pids[0]}, worker pid ${pids[1]} (Ctrl-C stops both)" >&2

# Whichever stops first (crash, bad configuration, port in use) stops the other: no
# half-running system, and `make run` fails with a line saying which one did not run.
status=0
wait -n "${pids[@]}" || status=$?
if [ "$stopping" = 0 ] && [ "$status" = 0 ]; then
    # Both exit 0 only when told to stop: a Ctrl-C that reached them but not this shell's trap
    # (a shell started with SIGINT ignored, as by `cmd &` in a script, cannot trap it).
    stop
    exit 0
fi
if [ "$stopping" = 0 ]; then
    for i in 0 1; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            name=$([ "$i" = 0 ] && echo "gateway (port ${PORT_SHOWN})" || echo worker)
            echo "run_local: the ${name} stopped (exit status ${status}); see its message above" >&2
            break
        fi
    done
    stop
    [ "$status" = 0 ] && status=1
    exit "$status"
fi
