"""The scheduler: pull sources ("active scrappers") fetched on a cron schedule into the queue.

A third process beside gateway and worker (DESIGN.md section 1). It produces queue items
through `Queue.enqueue`, exactly like an upload; it never merges.
"""
