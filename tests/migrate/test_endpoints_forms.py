"""The endpoints file in every form the original zarr-fuse ingress server used, read by one loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, load_settings


def config_folder(tmp_path: Path, text: str) -> Path:
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "tree_schema_v1.yaml").write_text("VARS: {}\n")
    (tmp_path / "extract").mkdir(exist_ok=True)
    config = tmp_path / "endpoints_config.yaml"
    config.write_text(text)
    return config


ORIGINAL_DESIGN = """\
endpoints:
  - name: tree
    endpoint: /api/v1/tree
    schema_path: schemas/tree_schema_v1.yaml
"""

LATER_FORM = """\
configuration:
  base:
    queue_dir_path: /srv/old-queue
    log_level: debug
    port: 8001
    worker_poll_interval: 5
  smtp:
    notify_to: "a@example.org, b@example.org"
    host: smtp.example.org
    from_email: ingress@example.org
    username: ingress
endpoints:
  - name: tree
    endpoint: /api/v1/tree
    data_source:
      schema_path: schemas/tree_schema_v1.yaml
      target_node: site/trees
      fn_module: extract.bukov
      extract_fn: extract
active_scrappers:
  - name: weather
    cron: "0 * * * *"
    schema_path: schemas/tree_schema_v1.yaml
    request: {url: "http://127.0.0.1:9/weather"}
"""


def test_original_design_mapping_with_endpoints_is_read(tmp_path):
    settings = load_settings({"ENDPOINTS_CONFIG": str(config_folder(tmp_path, ORIGINAL_DESIGN))}, dotenv=None)
    (tree,) = settings.endpoints
    assert (tree.name, tree.route, tree.target_node) == ("tree", "/api/v1/tree", "")
    assert tree.schema_path == tmp_path / "schemas" / "tree_schema_v1.yaml"
    assert settings.config_warnings == () and settings.smtp is None


def test_later_form_fills_settings_smtp_and_scrapers(tmp_path):
    config = config_folder(tmp_path, LATER_FORM)
    settings = load_settings({"CONFIG_PATH": str(config), "SMTP_PASSWORD": "mail-s3cret"}, dotenv=None)
    assert settings.endpoints_config == config
    assert settings.queue_dir == Path("/srv/old-queue")
    assert (settings.log_level, settings.port, settings.worker_poll_seconds) == ("DEBUG", 8001, 5.0)
    (tree,) = settings.endpoints
    assert (tree.target_node, tree.fn_module, tree.extract_fn) == ("site/trees", "extract.bukov", "extract")
    assert tree.config_dir == tmp_path and tree.node_path("a") == "site/trees/a"
    assert settings.smtp.notify_to == ("a@example.org", "b@example.org")
    assert (settings.smtp.port, settings.smtp.password) == (587, "mail-s3cret")
    assert [s["name"] for s in settings.scrappers] == ["weather"]
    assert [s.name for s in settings.scrapers] == ["weather"]
    assert settings.config_warnings == ()  # smtp and scrappers are used now: no "read but not used"
    assert "mail-s3cret" not in repr(settings)


def test_environment_wins_over_configuration_base(tmp_path):
    config = config_folder(tmp_path, LATER_FORM)
    settings = load_settings(
        {"CONFIG_PATH": str(config), "QUEUE_DIR_PATH": str(tmp_path / "q"), "PORT": "9100", "LOG_LEVEL": "error"},
        dotenv=None,
    )
    assert (settings.queue_dir, settings.port, settings.log_level) == (tmp_path / "q", 9100, "ERROR")
    assert settings.worker_poll_seconds == 5.0  # not set in the environment: the file's value


def test_queue_dir_wins_over_its_alias(tmp_path):
    config = config_folder(tmp_path, ORIGINAL_DESIGN)
    settings = load_settings(
        {"ENDPOINTS_CONFIG": str(config), "QUEUE_DIR": str(tmp_path / "a"), "QUEUE_DIR_PATH": str(tmp_path / "b")},
        dotenv=None,
    )
    assert settings.queue_dir == tmp_path / "a"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("endpoint:\n  - {name: a}\n", "endpoint: unknown key (did you mean 'endpoints'?"),
        ("configuration: {bsae: {}}\nendpoints: [{name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml}]\n",
         "configuration.bsae: unknown key (did you mean 'base'?"),
        ("configuration: {base: {queue_dir: /q}}\nendpoints: [{name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml}]\n",
         "configuration.base.queue_dir: unknown key (did you mean 'queue_dir_path'?"),
        ("configuration: {base: {port: eighty}}\nendpoints: [{name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml}]\n",
         "configuration.base.port: 'eighty' is not a whole number"),
        ("configuration: {smtp: {notify_to: [not-an-address], host: h}}\nendpoints: [{name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml}]\n",
         "configuration.smtp.notify_to: expected e-mail addresses"),
        ("configuration: {smtp: {notify_to: a@b.c, password: pw}}\nendpoints: [{name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml}]\n",
         "configuration.smtp.password: not allowed in the file: set SMTP_PASSWORD"),
        ("- {name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml, targetnode: x}\n",
         "[0].targetnode: unknown key (did you mean 'target_node'?"),
        ("- {name: a, endpoint: /a, data_source: {schema_path: schemas/tree_schema_v1.yaml, extract: f}}\n",
         "[0].data_source.extract: unknown key (did you mean 'extract_fn'?"),
        ("- {name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml, data_source: {schema_path: x.yaml}}\n",
         "[0].data_source.schema_path: given twice"),
        ("- {name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml, fn_module: extract.bukov}\n",
         "[0] (a).extract_fn: missing: an extractor needs both fn_module and extract_fn"),
        ("- {name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml, fn_module: extract/bukov.py, extract_fn: f}\n",
         "[0] (a).fn_module: 'extract/bukov.py' is not a dotted module path"),
        ("- {name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml, target_node: ../up}\n",
         "[0] (a).target_node: '../up' is not a node path"),
        ("- {name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml, content_types: [text/plain]}\n",
         "[0] (a).content_types: only for an endpoint with an extractor"),
        ("active_scrappers: [{cron: x}]\nendpoints: [{name: a, endpoint: /a, schema_path: schemas/tree_schema_v1.yaml}]\n",
         "active_scrappers[0]: expected a mapping with a name"),
    ],
)
def test_bad_keys_stop_start_naming_the_key(tmp_path, text, expected):
    config = config_folder(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings({"ENDPOINTS_CONFIG": str(config)}, dotenv=None)
    message = str(error.value)
    assert message.startswith(str(config)) and expected in message and "\n" not in message
