"""`active_scrappers:` is validated at start: every mistake names the entry and the key to fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shared.config import ConfigError, load_settings

SCHEMA = """\
VARS:
  temperature: {unit: degC, df_col: air_temperature}
  humidity: {unit: "%", df_col: relative_humidity}
  pressure: {unit: hPa}
"""

SITES = "site,lat,lon\nlysina,50.05,12.68\nbukov,49.45,16.21\n"

GOOD = """\
- name: yr-forecast
  schema_path: schemas/surface.yaml
  target_node: yr.no
  runs:
    - {cron: "15 */6 * * *", set: {run: "06"}}
  request:
    method: GET
    url: "http://127.0.0.1:9/forecast?lat={dflat}&lon={dflon}&q={quantity}&d={date}&r={run}"
    headers: [{header_name: User-Agent, header_value: "my-group/1.0 ops@example.org"}]
    query_params: [{name: altitude, value: "{alt}"}]
  render:
    - {name: date, source: datetime_utc, format: "%Y%m%d"}
    - {name: alt, source: const, value: 300}
  iterate:
    - {name: quantity, source: schema, schema_regex: "VARS.*.df_col"}
    - {name: site, source: dataframe, dataframe_path: dataframes/sites.csv,
       dataframe_has_header: true, outputs: {dflat: lat, dflon: lon}}
"""


def settings_with(tmp_path: Path, scrappers: str):
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "surface.yaml").write_text(SCHEMA)
    (tmp_path / "dataframes").mkdir(exist_ok=True)
    (tmp_path / "dataframes" / "sites.csv").write_text(SITES)
    config = tmp_path / "endpoints_config.yaml"
    config.write_text("endpoints: [{name: a, endpoint: /a, schema_path: schemas/surface.yaml}]\n"
                      "active_scrappers:\n" + textwrap.indent(scrappers, "  "))
    return load_settings({"ENDPOINTS_CONFIG": str(config)}, dotenv=None)


def test_the_original_example_is_read_with_its_sources_resolved(tmp_path):
    (scraper,) = settings_with(tmp_path, GOOD).scrapers
    assert (scraper.name, scraper.username, scraper.target_node) == ("yr-forecast", "scraper-yr-forecast", "yr.no")
    assert [(r.cron, r.tz, dict(r.constants)) for r in scraper.runs] == [("15 */6 * * *", "UTC", {"run": "06"})]
    quantity, site = scraper.iterate
    assert [s["quantity"] for s in quantity.steps] == ["air_temperature", "relative_humidity"]
    assert [dict(s) for s in site.steps] == [
        {"site": "lysina", "dflat": "50.05", "dflon": "12.68"}, {"site": "bukov", "dflat": "49.45", "dflon": "16.21"}]
    assert scraper.request.headers == (("User-Agent", "my-group/1.0 ops@example.org"),)


def replaced(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("scrappers", "expected"),
    [
        (replaced("target_node:", "targt_node:"),
         "active_scrappers[0] (yr-forecast).targt_node: unknown key (did you mean 'target_node'?"),
        (replaced("method: GET", "method: POST"), "(yr-forecast).request.method: 'POST': only GET"),
        (replaced('"15 */6 * * *"', '"15 */6 * *"'), "(yr-forecast).runs[0].cron: '15 */6 * *' is not a 5-field cron"),
        (replaced('"15 */6 * * *"', '"0 0 15 */6 * *"'), "(yr-forecast).runs[0].cron: '0 0 15 */6 * *' is not a 5-field"),
        (replaced('"15 */6 * * *"', '"15 */6 * * 8"'), "(yr-forecast).runs[0].cron: '15 */6 * * 8' is not a 5-field"),
        (replaced("set: {run", "tz: Mars/Olympus, set: {run"), "(yr-forecast).runs[0].tz: 'Mars/Olympus' is not an IANA"),
        (replaced("{name: alt, source: const, value: 300}", "{name: alt, source: const}"),
         "(yr-forecast).render[1].value: missing: source const needs a value"),
        (replaced(', format: "%Y%m%d"', ""), "(yr-forecast).render[0].format: missing: source datetime_utc needs"),
        (replaced("source: datetime_utc", "source: datetime"), "(yr-forecast).render[0].source: 'datetime' is not one of"),
        (replaced("{name: alt, source: const", "{name: date, source: const"),
         "(yr-forecast).render[1].name: variable 'date' defined twice (also render[0].name)"),
        (replaced("{dflat: lat,", "{date: lat,"),
         "(yr-forecast).iterate[1].outputs.date: variable 'date' defined twice (also render[0].name)"),
        (replaced('set: {run: "06"}', 'set: {run: "06", site: x}'),
         "(yr-forecast).runs[0].set.site: variable defined twice (also iterate[1].name)"),
        (replaced("&r={run}", "&r={runn}"),
         "(yr-forecast).request.url: unknown variable {runn} in runs[0] (did you mean {run}?"),
        (replaced('value: "{alt}"', 'value: "{altitude}"'),
         "(yr-forecast).request.query_params[0].value: unknown variable {altitude}"),
        (replaced("ops@example.org", "{contact}"),
         "(yr-forecast).request.headers[0].header_value: unknown variable {contact}"),
        (replaced("&r={run}", "&r={run.x}"), "(yr-forecast).request.url: {run.x} in"),
        (replaced("&r={run}", "&r={run"), "(yr-forecast).request.url: "),
        (replaced('"VARS.*.df_col"', '"VARS.*.df_column"'),
         "(yr-forecast).iterate[0].schema_regex: 'VARS.*.df_column' matches no plain value"),
        (replaced("outputs: {dflat: lat,", "outputs: {dflat: latitude,"),
         "(yr-forecast).iterate[1].outputs.dflat: column 'latitude' not in sites.csv's header site, lat, lon"),
        (replaced("dataframes/sites.csv", "dataframes/stations.csv"),
         "(yr-forecast).iterate[1].dataframe_path: cannot read"),
        (replaced("dataframes/sites.csv", "../sites.csv"), "(yr-forecast).iterate[1].dataframe_path: '../sites.csv' lies outside"),
        (replaced("schemas/surface.yaml", "schemas/none.yaml"), "(yr-forecast).schema_path: schema file"),
        (replaced("source: schema,", "source: schema, dataframe_path: x.csv,"),
         "(yr-forecast).iterate[0].dataframe_path: not for source schema"),
        (replaced("http://127.0.0.1:9", "ftp://127.0.0.1:9"), "(yr-forecast).request.url: 'ftp://"),
        (replaced("name: yr-forecast", "name: yr/forecast"), "(yr/forecast).name: 'yr/forecast' must be letters"),
        (GOOD + GOOD, "active_scrappers[1] (yr-forecast).name: duplicate scrapper name"),
        (replaced("  runs:\n    - {cron: \"15 */6 * * *\", set: {run: \"06\"}}\n", ""), "(yr-forecast).runs: missing"),
    ],
)
def test_each_mistake_stops_start_naming_entry_and_key(tmp_path, scrappers, expected):
    with pytest.raises(ConfigError) as error:
        settings_with(tmp_path, scrappers)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_an_entry_level_cron_is_one_run_and_the_zone_applies_to_it(tmp_path):
    text = replaced("  runs:\n    - {cron: \"15 */6 * * *\", set: {run: \"06\"}}\n",
                    "  cron: '0 3 * * 0'\n  tz: Europe/Prague\n").replace("&r={run}", "")
    (scraper,) = settings_with(tmp_path, text).scrapers
    assert [(r.cron, r.tz) for r in scraper.runs] == [("0 3 * * 0", "Europe/Prague")]


def test_a_scraper_is_no_longer_a_start_up_warning(tmp_path):
    assert not any("scrap" in w for w in settings_with(tmp_path, GOOD).config_warnings)
