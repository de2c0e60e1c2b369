"""When each scraper runs: classic 5-field cron (croniter: 0 and 7 = Sunday) in the run's zone.

croniter rather than APScheduler's CronTrigger: the latter numbers weekdays from Monday
(0 = Monday), so an original config's `* * * * 0` would silently run on Mondays; croniter
keeps cron's own meaning, including "day-of-month OR weekday" when both are restricted.
"""

from __future__ import annotations

from datetime import datetime, timezone

from croniter import croniter

from shared.config.scrapers import Run, Scraper


def next_fire(run: Run, after: datetime) -> datetime:
    """The first scheduled time strictly after `after`, in UTC."""
    return croniter(run.cron, after.astimezone(run.zone)).get_next(datetime).astimezone(timezone.utc)


def previous_fire(run: Run, before: datetime) -> datetime:
    """The last scheduled time at or before `before`, in UTC."""
    local = before.astimezone(run.zone)
    if croniter.match(run.cron, local.replace(second=0, microsecond=0)):
        return local.replace(second=0, microsecond=0).astimezone(timezone.utc)
    return croniter(run.cron, local).get_prev(datetime).astimezone(timezone.utc)


def next_of(scraper: Scraper, after: datetime) -> tuple[Run, datetime]:
    """The scraper's next (run, time) after `after`: the earliest of its schedules."""
    return min(((run, next_fire(run, after)) for run in scraper.runs), key=lambda pair: pair[1])


def missed(scraper: Scraper, last_run: datetime, now: datetime) -> tuple[Run, datetime] | None:
    """The latest slot after `last_run` and not after `now` (one catch-up, not one per slot)."""
    slots = [(run, previous_fire(run, now)) for run in scraper.runs]
    slots = [(run, when) for run, when in slots if when > last_run]
    return max(slots, key=lambda pair: pair[1]) if slots else None


def latest_due(scraper: Scraper, now: datetime) -> Run:
    """The run whose last slot at or before `now` is the latest: the one the schedule ran last.

    `--run-now` takes it when no `--run N` is given, so a scraper with one run per forecast cycle
    (`set: {cycle: "06"}`) fetches the cycle in force, not always the first one written.
    """
    return max(scraper.runs, key=lambda run: previous_fire(run, now))


def interval_seconds(scraper: Scraper, after: datetime, slots: int = 64) -> float:
    """The longest gap between consecutive runs over the next `slots` runs (all schedules merged).

    The alert "no success for two intervals" compares against it: for `0 8 * * 1-5` that is the
    weekend (3 days), so a quiet Saturday is not an alarm.
    """
    times: set[datetime] = set()
    for run in scraper.runs:  # each run's next slots; the merged schedule's first ones are among them
        slots_of_run = croniter(run.cron, after.astimezone(run.zone))
        times.update(slots_of_run.get_next(datetime).astimezone(timezone.utc) for _ in range(slots + 1))
    merged = sorted(times)[:slots + 1]
    return max((later - earlier).total_seconds() for earlier, later in zip(merged, merged[1:]))
