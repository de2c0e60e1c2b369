"""``zarr-ingress queue ...``: the operator's view of the spool, and the way to fix, retry or purge.

    status                      items per state and endpoint, oldest waiting item, worker alive?,
                                scrapers with their last and next run (ISO 8601 UTC)
    failed [--endpoint E]       failed items: id, endpoint, node, when, one-line reason
    show ID [--lines N]         an item's sidecar, error, traceback and first payload lines
    retry ID... | --all | --endpoint E | --since T | --until T    failed items back to the queue,
                                in their original order (the selectors combine; T: a time or an age)
    replace ID FILE             a failed item's payload <- FILE (its id, so its order, is kept)
    purge --done --older-than 7d | --failed ID...
    adopt OLD_QUEUE_DIR [--dry-run] [--failed]   take over the original server's queue (worker/adopt.py)
    loggers [--silent-for 2h] [--endpoint E]     last upload per logger, longest silent first
    loggers --forget ENDPOINT LOGGER             a retired logger no longer listed or alerted
                                (worker/loggers_cli.py)

Every command takes ``--json`` for scripts. Everything goes through ``shared.queue.Queue``, so
the spool protocol stays in one place.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from shared.config import ConfigError, load_settings
from shared.queue import FAILED, Item, Queue, QueueError, id_time

from shared.queue.heartbeat import parse_stamp, read_heartbeat, utc_stamp
from shared.queue.scheduler_state import SchedulerState
from worker import loggers_cli

# State folder on disk -> state name shown to operators.
STATE_NAMES = {"accepted": "waiting", "active": "active", "done": "done", "failed": "failed"}


def sidecar_record(item: Item) -> dict[str, Any]:
    return json.loads(item.sidecar.to_json())


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 7d, 12h, 30m or 90s")
    number, unit = float(match.group(1)), match.group(2) or "s"
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return timedelta(seconds=number * seconds)


def human_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def reason_line(error: object, width: int = 100) -> str:
    text = " ".join(str(error or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


# -- commands ------------------------------------------------------------------------------------
def cmd_status(queue: Queue, args: argparse.Namespace) -> int:
    now = datetime.now(timezone.utc)
    counts: dict[str, dict[str, int]] = {}
    for state_dir, per_endpoint in queue.counts().items():
        for endpoint, number in per_endpoint.items():
            counts.setdefault(endpoint, dict.fromkeys(STATE_NAMES.values(), 0))[STATE_NAMES[state_dir]] += number
    oldest: tuple[str, str, float] | None = None  # (id, endpoint, age in seconds)
    for endpoint, (_, oldest_id) in queue.waiting_by_endpoint().items():
        if oldest_id is not None and (oldest is None or oldest_id < oldest[0]):
            oldest = (oldest_id, endpoint, (now - id_time(oldest_id)).total_seconds())
    heartbeat = read_heartbeat(queue.root)
    alive = heartbeat is not None and heartbeat.is_alive(now)
    totals = {state: sum(c[state] for c in counts.values()) for state in STATE_NAMES.values()}
    scrapers = SchedulerState(queue.root).read()  # written by `zarr-ingress scheduler`

    if args.json:
        print(json.dumps({
            "queue_dir": str(queue.root),
            "counts": counts,
            "totals": totals,
            "oldest_waiting": None if oldest is None else
            {"id": oldest[0], "endpoint": oldest[1], "age_seconds": round(oldest[2], 3)},
            "worker": {
                "alive": alive,
                "pid": heartbeat.pid if heartbeat else None,
                "host": heartbeat.host if heartbeat else None,
                "heartbeat_at": utc_stamp(heartbeat.at) if heartbeat else None,
                "lanes": heartbeat.lanes if heartbeat else {},
            },
            "scrapers": scrapers,
        }, indent=2))
        return 0
    states = list(STATE_NAMES.values())
    rows = [[endpoint] + [counts[endpoint][s] for s in states] for endpoint in sorted(counts)]
    rows.append(["total"] + [totals[s] for s in states])
    print(f"queue: {queue.root}")
    print(table(["endpoint"] + states, rows))
    if oldest is None:
        print("oldest waiting: none")
    else:
        print(f"oldest waiting: {oldest[0]} ({oldest[1]}), {human_age(oldest[2])} old")
    if heartbeat is None:
        print("worker: not running (no heartbeat)")
    else:
        state = "alive" if alive else "NOT RESPONDING"
        print(f"worker: {state} (pid {heartbeat.pid} on {heartbeat.host}, "
              f"heartbeat {human_age(heartbeat.age_seconds(now))} ago)")
        for endpoint in sorted(heartbeat.lanes):
            print(f"lane {endpoint}: {lane_line(heartbeat.lanes[endpoint], now)}")
    if scrapers:
        print(table(["scraper", "last run", "outcome", "next run"], [
            [name, str(entry.get("last_run") or "never"),
             "" if "last_ok" not in entry else "ok" if entry["last_ok"] else failed_run(entry),
             str(entry.get("next_run") or "")]
            for name, entry in sorted(scrapers.items())]))
    return 0


def failed_run(entry: dict[str, Any]) -> str:
    """"2 failed: site=nowhere: HTTP 404 Not Found (and 1 more)": how many contexts, and why."""
    reason = str(entry.get("reason") or "")
    shown = reason if len(reason) <= 100 else reason[:99] + "…"
    return f"{entry.get('failed')} failed" + (f": {shown}" if shown else "")


def lane_line(lane: dict[str, Any], now: datetime) -> str:
    """"store unreachable since 08:12:03 UTC (4.0m ago): <reason>", "ok", plus the store call under way."""
    state = str(lane.get("state") or "unknown")
    line = state
    if state != "ok" and lane.get("since"):
        since = parse_stamp(str(lane["since"]))
        line += f" since {since:%H:%M:%S} UTC ({human_age((now - since).total_seconds())} ago)"
        if lane.get("reason"):
            line += f": {reason_line(lane['reason'], 200)}"
    if lane.get("busy") and lane.get("busy_since"):
        seconds = (now - parse_stamp(str(lane["busy_since"]))).total_seconds()
        line += f"; {lane['busy']} for {human_age(seconds)}"
    return line


def cmd_failed(queue: Queue, args: argparse.Namespace) -> int:
    records = []
    for item in queue.items(FAILED, args.endpoint):
        sidecar = item.sidecar
        records.append({
            "id": sidecar.id,
            "endpoint": sidecar.endpoint,
            "node_path": sidecar.node_path or "",
            "failed_at": sidecar.failed_at,
            "attempts": sidecar.attempts,
            "reason": reason_line(sidecar.error, 10_000 if args.json else 100),
        })
    if args.json:
        print(json.dumps(records, indent=2))
    elif not records:
        print("no failed uploads")
    else:
        print(table(["id", "endpoint", "node", "failed at", "reason"],
                    [[r["id"], r["endpoint"], r["node_path"] or "/", r["failed_at"], r["reason"]] for r in records]))
    return 0


def cmd_show(queue: Queue, args: argparse.Namespace) -> int:
    item = queue.find(args.id)
    if item is None:
        print(f"no upload with id {args.id} in {queue.root}", file=sys.stderr)
        return 1
    record = sidecar_record(item)
    try:
        with item.payload_path.open("rb") as payload:
            head = [payload.readline().decode("utf-8", "replace").rstrip("\r\n") for _ in range(args.lines)]
        while head and not head[-1]:
            head.pop()
    except OSError as error:
        head = [f"(payload unreadable: {error.strerror})"]
    if args.json:
        print(json.dumps({"state": STATE_NAMES[item.state], "sidecar": record,
                          "payload_path": str(item.payload_path), "payload_head": head}, indent=2))
        return 0
    print(f"state: {STATE_NAMES[item.state]}")
    print(f"payload: {item.payload_path}")
    for key, value in record.items():
        if key not in ("error", "traceback") and value not in (None, "", {}):
            print(f"{key}: {value}")
    if record.get("error"):
        print(f"error: {record['error']}")
    if record.get("traceback"):
        print("traceback:\n  " + str(record["traceback"]).rstrip().replace("\n", "\n  "))
    print(f"payload, first {args.lines} lines:")
    for line in head:
        print(f"  {line}")
    return 0


def parse_when(text: str) -> datetime:
    """A moment: RFC 3339 / ISO 8601 (UTC unless it says otherwise), or an age ago (2h, 30m, 7d)."""
    try:
        return datetime.now(timezone.utc) - parse_age(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a time like 2026-11-24T08:00Z nor an age like 2h") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def failed_between(item: Item, since: datetime | None, until: datetime | None) -> bool:
    """Did the item fail within [since, until)? (its failed_at; its acceptance time if unknown)"""
    stamp = item.sidecar.failed_at
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else id_time(item.id)
    return (since is None or moment >= since) and (until is None or moment < until)


def cmd_retry(queue: Queue, args: argparse.Namespace) -> int:
    selecting = args.all or args.endpoint is not None or args.since is not None or args.until is not None
    if selecting == bool(args.ids):
        print("retry: give upload ids, or select failed uploads with --all, --endpoint E, --since T, --until T",
              file=sys.stderr)
        return 2
    if selecting:
        ids = [item.id for item in queue.items(FAILED, args.endpoint)
               if failed_between(item, args.since, args.until)]
    else:
        ids = sorted(set(args.ids))  # ids sort in acceptance order: retry in the original order
    retried, problems = [], []
    for upload_id in ids:
        try:
            queue.retry(upload_id)
            retried.append(upload_id)
        except QueueError as error:  # unknown id, not failed: report it and go on with the rest
            problems.append({"id": upload_id, "error": str(error)})
    if args.json:
        print(json.dumps({"retried": retried, "errors": problems}, indent=2))
    else:
        print(f"retried {len(retried)} upload(s)" + (":" if retried else ""))
        for upload_id in retried:
            print(f"  {upload_id}")
        for problem in problems:
            print(f"cannot retry {problem['id']}: {problem['error']}", file=sys.stderr)
    return 1 if problems else 0


def cmd_replace(queue: Queue, args: argparse.Namespace) -> int:
    try:
        payload = args.file.read_bytes()
    except OSError as error:
        print(f"replace: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    try:
        item = queue.replace_payload(args.id, payload)
    except QueueError as error:
        print(f"replace: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"id": item.id, "sha256": item.sidecar.sha256, "size": item.sidecar.size,
                          "replaced": item.sidecar.extra.get("replaced", [])}, indent=2))
    else:
        print(f"replaced the payload of {item.id} ({item.sidecar.size} bytes, sha256 {item.sidecar.sha256[:12]}…); "
              f"merge it with: zarr-ingress queue retry {item.id}")
    return 0


def cmd_purge(queue: Queue, args: argparse.Namespace) -> int:
    if args.done == args.failed:
        print("purge: say --done --older-than AGE, or --failed ID...", file=sys.stderr)
        return 2
    if args.done:
        if args.older_than is None or args.ids:
            print("purge --done needs --older-than AGE (e.g. 7d) and no ids", file=sys.stderr)
            return 2
        removed, what = queue.purge_done(args.older_than), "done"
    else:
        if not args.ids:
            print("purge --failed needs the ids to remove (see `queue failed`)", file=sys.stderr)
            return 2
        removed, what = queue.purge_failed(args.ids), "failed"
    if args.json:
        print(json.dumps({"state": what, "removed": removed}))
    else:
        print(f"removed {removed} {what} upload(s)")
    return 0


def cmd_adopt(queue: Queue, args: argparse.Namespace) -> int:
    from worker.adopt import adopt, plan_adoption

    old = args.old_queue_dir.absolute()
    if not (old / "accepted").is_dir() and not (old / "failed").is_dir():
        print(f"adopt: {old} has no accepted/ or failed/ folder: not a queue of the original server", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"adopt: {error}", file=sys.stderr)
        return 2
    plans, left = plan_adoption(old, settings, queue, include_failed=args.failed)
    if not args.dry_run:
        adopt(queue, plans)
    taken = [p for p in plans if p.reason is None]
    skipped = [p for p in plans if p.reason is not None]
    if args.json:
        print(json.dumps({
            "dry_run": args.dry_run,
            "adopted": [{"old": str(p.payload), "endpoint": p.endpoint.name, "id": p.new_id} for p in taken],
            "skipped": [{"old": str(p.payload), "reason": p.reason} for p in skipped],
            "not_adopted": left,
        }, indent=2))
        return 0
    verb = "would adopt" if args.dry_run else "adopted"
    print(f"{verb} {len(taken)} upload(s) from {old}, in their original order" + (":" if taken else ""))
    for plan in taken:
        target = f" as {plan.new_id}" if plan.new_id else ""
        print(f"  {plan.old_state}/{plan.payload.name} -> {plan.endpoint.name} {plan.fields['node_path'] or '/'}{target}")
    for plan in skipped:
        print(f"  skipped {plan.old_state}/{plan.payload.name}: {plan.reason}")
    for state, count in left.items():
        if count:
            hint = " (merged already)" if state == "success" else " (add --failed to queue them again)"
            print(f"not adopted: {count} item(s) in {state}/{hint}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zarr-ingress queue", description="Inspect and repair the upload queue.")
    parser.add_argument("--queue-dir", type=Path, help="the spool directory (default: QUEUE_DIR from the settings)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("status", parents=[common], help="counts per state and endpoint, worker alive?")
    failed = commands.add_parser("failed", parents=[common], help="list failed uploads with their reason")
    failed.add_argument("--endpoint")
    show = commands.add_parser("show", parents=[common], help="one upload: sidecar, error, payload head")
    show.add_argument("id")
    show.add_argument("--lines", type=int, default=10, help="payload lines to show (default 10)")
    retry = commands.add_parser("retry", parents=[common], help="put failed uploads back in the queue")
    retry.add_argument("ids", nargs="*", metavar="ID")
    retry.add_argument("--all", action="store_true", help="every failed upload")
    retry.add_argument("--endpoint", help="failed uploads of this endpoint")
    retry.add_argument("--since", type=parse_when, metavar="T",
                       help="failed at or after T (2026-11-24T08:00Z, or an age: 2h)")
    retry.add_argument("--until", type=parse_when, metavar="T", help="failed before T")
    replace = commands.add_parser("replace", parents=[common],
                                  help="put a corrected payload in place of a failed upload's")
    replace.add_argument("id")
    replace.add_argument("file", type=Path, metavar="FILE")
    purge = commands.add_parser("purge", parents=[common], help="delete done or failed uploads")
    purge.add_argument("--done", action="store_true")
    purge.add_argument("--failed", action="store_true")
    purge.add_argument("--older-than", type=parse_age, metavar="AGE")
    purge.add_argument("ids", nargs="*", metavar="ID")
    adopt = commands.add_parser("adopt", parents=[common], help="import the original server's queue (nothing deleted)")
    adopt.add_argument("old_queue_dir", type=Path, metavar="OLD_QUEUE_DIR")
    adopt.add_argument("--dry-run", action="store_true", help="say what would be adopted, change nothing")
    adopt.add_argument("--failed", action="store_true", help="also queue the old failed/ items again (after the waiting ones)")
    loggers_cli.add_parser(commands, common)
    return parser


def resolve_queue_dir(option: Path | None) -> Path:
    if option is not None:
        return option
    return Path(load_settings().queue_dir)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        queue_dir = resolve_queue_dir(args.queue_dir)
    except ConfigError as error:
        print(f"zarr-ingress queue: {error}", file=sys.stderr)
        return 2
    if not queue_dir.is_dir() and args.command != "adopt":  # adopting may start a new queue
        print(f"zarr-ingress queue: QUEUE_DIR {queue_dir} does not exist", file=sys.stderr)
        return 2
    handler = {"status": cmd_status, "failed": cmd_failed, "show": cmd_show,
               "retry": cmd_retry, "replace": cmd_replace, "purge": cmd_purge, "adopt": cmd_adopt,
               "loggers": loggers_cli.cmd_loggers}[args.command]
    return handler(Queue(queue_dir), args)


if __name__ == "__main__":
    sys.exit(main())
