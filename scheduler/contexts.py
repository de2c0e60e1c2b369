"""One run of a scraper expanded into its contexts, and its templates rendered for each.

A context is the mapping of every template variable to its text for one request: the run's
constants (`set:`), the `render:` variables evaluated once at the run's scheduled time, and
one step of each `iterate:` axis, combined as a cartesian product in the order written (the
first axis varies slowest), so the items of one run reach the queue in a predictable order.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.config.scrapers import Render, Run, Scraper

Context = Mapping[str, str]
SECRET_PARAMETER = re.compile(r"key|token|secret|pass|auth|sig|session|credential", re.IGNORECASE)


def render_value(render: Render, scheduled: datetime, run: Run) -> str:
    if render.source == "const":
        return render.value or ""
    moment = scheduled.astimezone(timezone.utc if render.source == "datetime_utc" else run.zone)
    return moment.strftime(render.format or "")


def expand(scraper: Scraper, run: Run, scheduled: datetime) -> list[dict[str, str]]:
    """The contexts of one run at `scheduled` (an aware datetime), in request order."""
    base = dict(run.constants)
    base.update({render.name: render_value(render, scheduled, run) for render in scraper.render})
    contexts = []
    for steps in itertools.product(*(axis.steps for axis in scraper.iterate)):
        context = dict(base)
        for step in steps:
            context.update(step)
        contexts.append(context)
    return contexts


def fill(template: str, context: Context) -> str:
    """The template with each {variable} replaced; validation made sure every one is defined."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(context[name])
    return "".join(parts)


def request_url(scraper: Scraper, context: Context) -> str:
    """The URL to fetch: the url template filled, the query_params appended (URL-encoded)."""
    url = fill(scraper.request.url, context)
    params = [(name, fill(value, context)) for name, value in scraper.request.query_params]
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def request_headers(scraper: Scraper, context: Context) -> dict[str, str]:
    return {name: fill(value, context) for name, value in scraper.request.headers}


def secret_variables(scraper: Scraper) -> frozenset[str]:
    """Variables that may hold a credential: named like one, or filling a request header or a
    query parameter named like one (`Authorization: Bearer {key}`, `?apikey={k}`)."""
    variables: set[str] = set()
    for _, value in scraper.request.headers:
        variables.update(name for _, name, _, _ in string.Formatter().parse(value) if name)
    for name, value in scraper.request.query_params:
        if SECRET_PARAMETER.search(name):
            variables.update(field for _, field, _, _ in string.Formatter().parse(value) if field)
    for literal, field, _, _ in string.Formatter().parse(scraper.request.url):
        if field and SECRET_PARAMETER.search(literal.rsplit("&", 1)[-1].rsplit("?", 1)[-1]):
            variables.add(field)  # ...&apikey={k}: the literal before the field names it
    every = {name for axis in scraper.iterate for step in axis.steps[:1] for name in step}
    every |= {render.name for render in scraper.render}
    every |= {name for run in scraper.runs for name in run.constants}
    return frozenset(variables | {name for name in every if SECRET_PARAMETER.search(name)})


def public_context(scraper: Scraper, context: Context) -> dict[str, str]:
    """The context as the sidecar, logs and alerts show it: secret variables masked."""
    hidden = secret_variables(scraper)
    return {name: "***" if name in hidden else value for name, value in context.items()}


def public_url(url: str) -> str:
    """The URL as it may appear in a sidecar, log or alert: no user:password, no secret values.

    Vendor APIs put tokens in the query (`?apikey=...`, `&token=...`): the value of a parameter
    whose name looks like a credential is replaced, the others (lat, lon, date) are kept so an
    operator still sees which request it was.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    pairs = []
    for pair in parts.query.split("&"):
        name = pair.split("=", 1)[0]
        pairs.append(f"{name}=***" if "=" in pair and SECRET_PARAMETER.search(name) else pair)
    query = "&".join(p for p in pairs if p)
    return urlunsplit((parts.scheme, host, parts.path, query, ""))
