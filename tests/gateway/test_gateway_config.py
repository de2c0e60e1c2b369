"""Settings come from the environment and `.env`; bad configuration is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, load_settings
from gateway_helpers import make_settings

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"


def write_endpoints(tmp_path: Path, text: str) -> Path:
    (tmp_path / "tree.yaml").write_text("VARS: {}\n")
    config = tmp_path / "endpoints.yaml"
    config.write_text(text)
    return config


def test_defaults_read_the_repository_endpoints_and_worker_settings(tmp_path):
    settings = load_settings({}, dotenv=None)
    assert [e.name for e in settings.endpoints] == ["tree", "weather", "sensor"]
    assert settings.endpoint("tree").route == "/api/v1/tree"
    assert settings.endpoint("tree").schema_path == SCHEMAS / "tree_schema_v1.yaml"
    assert settings.max_upload_bytes == 32 * 1024 * 1024 and settings.port == 8000
    assert settings.auth_enabled and not settings.production
    assert (settings.worker_batch_items, settings.worker_batch_rows) == (1000, 200_000)
    assert (settings.worker_poll_seconds, settings.worker_retry_max_seconds) == (2, 60)
    assert (settings.done_retention_days, settings.worker_metrics_port) == (7, 9101)
    assert settings.queue_dir.is_absolute()


def test_production_uses_the_prod_endpoints_file():
    settings = load_settings({"PRODUCTION": "true"}, dotenv=None)
    assert settings.endpoints_config.name == "prod_endpoints_config.yaml"


def test_dotenv_fills_in_what_the_environment_does_not_set(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nPORT=9000\nexport LOG_LEVEL="debug"\nQUEUE_DIR=/srv/q\n')
    settings = load_settings({"PORT": "8100"}, dotenv=dotenv)
    assert settings.port == 8100 and settings.log_level == "DEBUG"
    assert settings.queue_dir == Path("/srv/q")


def test_zf_aliases_and_secrets_stay_out_of_repr():
    settings = load_settings(
        {
            "ZF_S3_SECRET_KEY": "s3cr3t-key",
            "ZF_STORE_URL": "s3://bucket/x.zarr",
            "BASIC_AUTH_USERS_JSON": '{"test": "hunter2"}',
        },
        dotenv=None,
    )
    assert settings.s3_secret_key == "s3cr3t-key" and settings.store_url == "s3://bucket/x.zarr"
    assert settings.users == {"test": "hunter2"}
    assert "s3cr3t-key" not in repr(settings) and "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"PORT": "eighty"}, "PORT: 'eighty' is not a whole number"),
        ({"AUTH_ENABLED": "maybe"}, "AUTH_ENABLED: 'maybe' is not a boolean"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL: 'LOUD' is not one of"),
        ({"MAX_UPLOAD_BYTES": "0"}, "MAX_UPLOAD_BYTES: 0 is below the minimum 1"),
        ({"BASIC_AUTH_USERS_JSON": '{"test": "pw"'}, "BASIC_AUTH_USERS_JSON: not valid JSON"),
        ({"BASIC_AUTH_USERS_JSON": '["test"]'}, "BASIC_AUTH_USERS_JSON: expected a JSON object"),
        ({"ENDPOINTS_CONFIG": "/nonexistent.yaml"}, "ENDPOINTS_CONFIG: cannot read /nonexistent.yaml"),
    ],
)
def test_bad_variables_are_one_line_naming_the_variable(environ, expected):
    with pytest.raises(ConfigError) as error:
        load_settings(environ, dotenv=None)
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert "pw" not in str(error.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "- {name: tree, endpoint: /a, schema_path: tree.yaml}\n- {name: tree, endpoint: /b, schema_path: tree.yaml}\n",
            "[1] (tree).name: duplicate endpoint name 'tree'",
        ),
        (
            "- {name: a, endpoint: /a, schema_path: tree.yaml}\n- {name: b, endpoint: /a, schema_path: tree.yaml}\n",
            "[1] (b).endpoint: '/a' collides with endpoint 'a'",
        ),
        ("- {name: a, endpoint: /a, schema_path: missing.yaml}\n", "[0] (a).schema_path: schema file"),
        ("- {name: a, endpoint: /a, schema_path: tree.yaml, user: [x]}\n", "[0].user: unknown key"),
        ("- {name: a, schema_path: tree.yaml}\n", "[0].endpoint: missing"),
        ("- {name: a, endpoint: /health, schema_path: tree.yaml}\n", "collides with the gateway's own /health"),
        ("- {name: '../x', endpoint: /a, schema_path: tree.yaml}\n", ".name: '../x' must be"),
        ("{name: a}\n", "name: unknown key (allowed: configuration, endpoints, active_scrappers)"),
        ("endpoints: []\n", "expected a non-empty list of endpoints"),
        ("- [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_endpoints_files_stop_with_the_file_and_key(tmp_path, text, expected):
    config = write_endpoints(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings({"ENDPOINTS_CONFIG": str(config)}, dotenv=None)
    message = str(error.value)
    assert message.startswith(str(config)) and expected in message and "\n" not in message


def test_schema_paths_resolve_against_schemas_dir_when_set(tmp_path):
    config = write_endpoints(tmp_path, "- {name: a, endpoint: /x/a, schema_path: s.yaml, users: [u1]}\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "s.yaml").write_text("VARS: {}\n")
    settings = load_settings({"ENDPOINTS_CONFIG": str(config), "SCHEMAS_DIR": str(other)}, dotenv=None)
    assert settings.endpoint("a").schema_path == other / "s.yaml"
    assert settings.endpoint("a").users == ("u1",)


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("OPERATORS", "alice,,bob", "OPERATORS: 'alice,,bob' has an empty name"),
    ("S3_READ_TIMEOUT", "soon", "S3_READ_TIMEOUT: 'soon' is not a number"),
    ("MAX_COLUMNS", "0", "MAX_COLUMNS: 0 is below the minimum 1"),
    ("PUBLIC_DOCS", "maybe", "PUBLIC_DOCS: 'maybe' is not a boolean"),
])
def test_new_settings_are_validated_naming_the_variable(tmp_path, variable, value, says):
    with pytest.raises(ConfigError) as error:
        make_settings(tmp_path / "queue", **{variable: value})
    assert str(error.value).startswith(says)


def test_operators_are_a_comma_separated_list(tmp_path):
    assert make_settings(tmp_path / "queue", OPERATORS=" alice , bob").operators == ("alice", "bob")
