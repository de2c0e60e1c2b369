"""A run's contexts, its templates and its times, against plain-Python models."""

from __future__ import annotations

import os
import string
from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from shared.config.scrapers import Iterate, Render, Request, Run, Scraper
from scheduler.contexts import expand, fill, public_context, public_url, request_url
from scheduler.fetch import retry_after_seconds
from scheduler.schedule import interval_seconds, latest_due, missed, next_fire, previous_fire

EXAMPLES = int(os.environ.get("SCHEDULER_PROPERTY_EXAMPLES", "60"))
UTC = timezone.utc
names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
texts = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/ {}", max_size=8)


def scraper_with(render=(), iterate=(), url="http://127.0.0.1:9/x", params=()) -> Scraper:
    return Scraper(name="s", schema_path=__file__, runs=(Run("0 * * * *"),),  # type: ignore[arg-type]
                   request=Request(url=url, query_params=params), render=render, iterate=iterate)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.lists(st.tuples(names, st.lists(texts, min_size=1, max_size=3)), min_size=0, max_size=3,
                unique_by=lambda axis: axis[0]))
def test_contexts_are_the_cartesian_product_in_order_first_axis_slowest(axes) -> None:
    iterate = tuple(Iterate(name, tuple({name: v} for v in values)) for name, values in axes)
    contexts = expand(scraper_with(iterate=iterate), Run("0 * * * *", constants={"run": "06"}),
                      datetime(2026, 6, 14, 6, tzinfo=UTC))
    expected = [{"run": "06"}]
    for name, values in axes:  # the model: nested loops, the first axis outermost
        expected = [{**context, name: value} for context in expected for value in values]
    assert contexts == expected


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.lists(st.one_of(texts.map(lambda t: ("text", t.replace("{", "").replace("}", ""))),
                          names.map(lambda n: ("field", n))), max_size=6),
       st.dictionaries(names, texts, max_size=4))
def test_a_template_is_its_literals_and_each_field_replaced_by_its_value(pieces, values) -> None:
    template = "".join(p if kind == "text" else "{" + p + "}" for kind, p in pieces)
    context = {**{p: f"<{p}>" for kind, p in pieces if kind == "field"}, **values}
    expected = "".join(p if kind == "text" else context[p] for kind, p in pieces)
    assert fill(template, context) == expected


def test_literal_braces_and_query_params_are_kept_and_encoded() -> None:
    scraper = scraper_with(url="http://127.0.0.1:9/f?x={{raw}}&site={site}", params=(("q", "{site} & more"),))
    assert request_url(scraper, {"site": "a b"}) == "http://127.0.0.1:9/f?x={raw}&site=a b&q=a+b+%26+more"


def test_render_formats_the_scheduled_time_in_utc_or_the_runs_zone() -> None:
    render = (Render("day", "datetime_utc", format="%Y%m%d %H"), Render("local", "datetime_local", format="%H"),
              Render("c", "const", value="v"))
    (context,) = expand(scraper_with(render=render), Run("0 * * * *", tz="Europe/Prague"),
                        datetime(2026, 6, 14, 23, tzinfo=UTC))
    assert context == {"day": "20260614 23", "local": "01", "c": "v"}


def test_public_url_drops_credentials_and_secret_query_values_but_keeps_the_rest() -> None:
    url = "https://user:pw@api.example.org:8443/v2/data?lat=50.1&apiKey=abc&token=t&lon=12"
    assert public_url(url) == "https://api.example.org:8443/v2/data?lat=50.1&apiKey=***&token=***&lon=12"


def test_weekday_zero_is_sunday_as_in_classic_cron() -> None:
    run = Run("30 4 * * 0")
    after = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday
    assert next_fire(run, after) == datetime(2026, 12, 6, 4, 30, tzinfo=UTC)  # Sunday
    assert next_fire(run, after).isoweekday() == 7


def test_a_zone_moves_the_schedule_with_daylight_saving_time() -> None:
    run = Run("0 6 * * *", tz="Europe/Prague")
    assert next_fire(run, datetime(2026, 1, 10, tzinfo=UTC)) == datetime(2026, 1, 10, 5, tzinfo=UTC)
    assert next_fire(run, datetime(2026, 7, 10, tzinfo=UTC)) == datetime(2026, 7, 10, 4, tzinfo=UTC)


def test_catch_up_is_the_latest_missed_slot_once_and_nothing_when_none_was_missed() -> None:
    scraper = Scraper(name="s", schema_path=__file__, runs=(Run("15 */6 * * *"), Run("0 3 * * *")),  # type: ignore[arg-type]
                      request=Request(url="http://127.0.0.1:9/"))
    now = datetime(2026, 6, 14, 13, 0, tzinfo=UTC)
    run, when = missed(scraper, datetime(2026, 6, 13, 0, 15, tzinfo=UTC), now)
    assert (run.cron, when) == ("15 */6 * * *", datetime(2026, 6, 14, 12, 15, tzinfo=UTC))
    assert missed(scraper, datetime(2026, 6, 14, 12, 15, tzinfo=UTC), now) is None
    assert previous_fire(Run("0 13 * * *"), now) == now


def test_retry_after_reads_seconds_and_http_dates_and_caps_them() -> None:
    now = datetime(2026, 6, 14, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Sun, 14 Jun 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("99999") == 300.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_variables_that_carry_credentials_are_masked_in_the_public_context() -> None:
    scraper = Scraper(name="s", schema_path=__file__, runs=(Run("0 * * * *", constants={"api_key": "k1"}),),  # type: ignore[arg-type]
                      request=Request(url="http://127.0.0.1:9/x?site={site}&sig={s}", headers=(("Authorization", "Bearer {b}"),),
                                      query_params=(("access_token", "{t}"), ("lat", "{lat}"))))
    context = {"api_key": "k1", "site": "a", "s": "sig1", "b": "bear", "t": "tok", "lat": "50"}
    assert public_context(scraper, context) == {"api_key": "***", "site": "a", "s": "***", "b": "***", "t": "***",
                                                "lat": "50"}


def test_a_responses_format_comes_from_its_content_type_then_its_file_name_then_grib_magic() -> None:
    from scheduler.fetch import Fetched
    from scheduler.service import response_format

    plain, extracting = scraper_with(), Scraper(name="s", schema_path=__file__, runs=(Run("0 * * * *"),),  # type: ignore[arg-type]
                                               request=Request(url="http://127.0.0.1:9/"), fn_module="m", extract_fn="f")
    grib = b"GRIB\x00\x00\x02"
    assert response_format(plain, Fetched(True, grib, "application/x-grib"), "http://h/f?x=1") == ("grib", "f")
    assert response_format(plain, Fetched(True, grib, "application/octet-stream"), "http://h/t2m_006.grib2") == \
        ("grib", "t2m_006.grib2")
    assert response_format(plain, Fetched(True, grib, None), "http://h/api/field") == ("grib", "field.grib2")
    assert response_format(plain, Fetched(True, b"[]", "application/geo+json; charset=utf-8"), "http://h/x") == \
        ("json", "x")
    assert response_format(extracting, Fetched(True, b"[]", "application/json"), "http://h/x") == ("raw", "x")


# Runs that fire at some minutes of every hour: a plain-Python model knows their slots exactly.
minute_sets = st.lists(st.integers(0, 59), min_size=1, max_size=6, unique=True).map(sorted)


def hourly_scraper(minute_lists: list[list[int]]) -> Scraper:
    runs = tuple(Run(f"{','.join(map(str, minutes))} * * * *", constants={"run": str(i)})
                 for i, minutes in enumerate(minute_lists))
    return Scraper(name="s", schema_path=__file__, runs=runs, request=Request(url="http://127.0.0.1:9/x"))  # type: ignore[arg-type]


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.lists(minute_sets, min_size=1, max_size=3), st.integers(0, 59), st.integers(0, 59))
def test_run_now_takes_the_run_whose_last_slot_is_latest_the_first_written_on_a_tie(minute_lists, minute, second) -> None:
    now = datetime(2026, 6, 14, 10, minute, second, tzinfo=UTC)

    def minutes_since_last_slot(minutes: list[int]) -> int:  # the model: this hour's, else the previous hour's
        return min((minute - m) % 60 for m in minutes)

    ages = [minutes_since_last_slot(minutes) for minutes in minute_lists]
    expected = ages.index(min(ages))
    assert latest_due(hourly_scraper(minute_lists), now).constants == {"run": str(expected)}


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.lists(minute_sets, min_size=1, max_size=3), st.integers(0, 59))
def test_the_interval_is_the_longest_gap_between_the_merged_schedules_slots(minute_lists, minute) -> None:
    minutes = sorted({m for ms in minute_lists for m in ms})
    gaps = [later - earlier for earlier, later in zip(minutes, minutes[1:])] + [60 - minutes[-1] + minutes[0]]
    now = datetime(2026, 6, 14, 10, minute, tzinfo=UTC)
    assert interval_seconds(hourly_scraper(minute_lists), now) == max(gaps) * 60


def test_the_interval_of_a_weekday_schedule_is_the_weekend() -> None:
    weekdays = Scraper(name="s", schema_path=__file__, runs=(Run("0 8 * * 1-5"),),  # type: ignore[arg-type]
                       request=Request(url="http://127.0.0.1:9/x"))
    assert interval_seconds(weekdays, datetime(2026, 6, 17, 12, tzinfo=UTC)) == 3 * 24 * 3600
