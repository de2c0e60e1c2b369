"""The worker: merges queued uploads, in acceptance order, into their Zarr stores.

One process owns a queue at a time (``QUEUE_DIR/worker.lock``). Inside it, every endpoint has
its own lane (a thread), so a store that is down pauses only its own endpoint.

    service.py    the process: lock, recovery, lanes, watcher, heartbeat, done/ pruning, shutdown
    lane.py       one endpoint: scan, batch, claim, prepare, merge, complete / fail / release
    batching.py   which consecutive items merge together (same node, bounded by items and rows)
    policy.py     which errors are permanent, which are transient; the backoff between retries
    heartbeat.py  QUEUE_DIR/worker.heartbeat, read by the gateway's /ready and `queue status`
    metrics.py    the worker's Prometheus metrics
    watch.py      the queue's id counter, read ten times a second, wakes the lanes
    pacing.py     ingest first: while uploads pour in, the worker holds its CPU to a share
    queue_cli.py  `zarr-ingress queue ...`, the operator's commands
"""
