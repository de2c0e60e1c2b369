"""Credentials fit for fleets (issue 13 item 5): API keys, USERS_FILE re-read on change,
Campbell's Basic form, failed logins limited per address and user name."""

from __future__ import annotations

import base64
import logging
import os
import time
from ipaddress import ip_network
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from werkzeug.security import generate_password_hash

from gateway.app import create_app
from gateway.login import client_address
from gateway_helpers import AUTH, REPO, TEST_DATA, basic, make_settings
from shared.config import ConfigError

TREE_CSV = (TEST_DATA / "tree" / "default.csv").read_bytes()
CSV = {"Content-Type": "text/csv"}
CHEAP = "pbkdf2:sha256:1000"  # a real werkzeug hash, cheap enough for many tests
KEY = "station-12.Zk3v9QpL0sTq1uWm8yXr2bNc5dFh7gJa"
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))


def write_users(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def fleet_users(tmp_path: Path, *, extra: str = "") -> Path:
    return write_users(tmp_path / "users.yaml", f"""\
users:
  - name: station-12
    key_hash: "{generate_password_hash(KEY, method=CHEAP)}"
    endpoints: [tree]
  - name: carol
    password: "{generate_password_hash('C4rol-pw', method=CHEAP)}"
    operator: true
  - name: cr1000x
    password: Campbell-pw-1
{extra}""")


def endpoints_file(tmp_path: Path) -> Path:
    path = tmp_path / "endpoints.yaml"
    path.write_text(f"""\
- name: tree
  endpoint: /api/v1/tree
  schema_path: {REPO / 'schemas' / 'tree_schema_v1.yaml'}
  campbell_basic: true
- name: weather
  endpoint: /api/v1/weather
  schema_path: {REPO / 'schemas' / 'weather_schema_v1.yaml'}
""", encoding="utf-8")
    return path


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return fleet_users(tmp_path)


@pytest.fixture
def fleet(tmp_path: Path, users_file: Path):
    settings = make_settings(tmp_path / "queue", USERS_FILE=str(users_file), ENDPOINTS_CONFIG=str(endpoints_file(tmp_path)))
    return create_app(settings).test_client()


def campbell(user: str, password: str) -> dict[str, str]:
    encode = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    return {"Authorization": f"Basic {encode(user)}:{encode(password)}"}


def test_an_api_key_logs_in_with_bearer_and_with_x_api_key_and_the_upload_names_its_user(fleet):
    for header in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
        response = fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, **header})
        assert response.status_code == 202, response.get_json()
        status = fleet.get(response.headers["Location"], headers=header)
        assert status.status_code == 200
    files = list((Path(fleet.application.extensions["zarr_ingress"]["queue"].root) / "accepted").rglob("*.meta.json"))
    assert len(files) == 2 and all('"username": "station-12"' in f.read_text() for f in files)
    assert not any(KEY.split(".")[1] in f.read_text() for f in files)  # the key is never in a sidecar


def test_an_unknown_api_key_is_401_naming_the_header_forms_and_never_echoing_the_key(fleet):
    for wrong in (KEY[:-1] + "x", "nobody.secret-part-xyz"):
        for header in ({"Authorization": f"Bearer {wrong}"}, {"X-API-Key": wrong}):
            response = fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, **header})
            assert response.status_code == 401
            body = response.get_data(as_text=True)
            assert "Authorization: Bearer <name>.<secret>" in body and "X-API-Key" in body
            assert wrong.split(".")[1] not in body and "Bearer" in response.headers["WWW-Authenticate"]


def test_an_api_key_without_its_name_prefix_is_401_saying_how_a_key_looks(fleet):
    response = fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": "Zk3v9QpL0sTq1uWm8yXr"})
    assert response.status_code == 401
    assert "<name>.<secret>" in response.get_json()["error"] and "Zk3v9" not in response.get_data(as_text=True)


def test_a_users_file_endpoint_list_is_403_elsewhere_naming_the_users_file(fleet):
    response = fleet.post("/api/v1/weather", data=b"x", headers={**CSV, "X-API-Key": KEY})
    assert response.status_code == 403
    assert "USERS_FILE" in response.get_json()["error"] and "tree" in response.get_json()["error"]


def test_operator_true_in_the_users_file_reads_every_upload_status(fleet):
    upload = fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": KEY})
    assert fleet.get(upload.headers["Location"], headers=basic("carol", "C4rol-pw")).status_code == 200
    assert fleet.get(upload.headers["Location"], headers=basic("cr1000x", "Campbell-pw-1")).status_code == 404
    assert fleet.get("/api/v1/failed", headers=basic("carol", "C4rol-pw")).status_code == 200


def test_basic_auth_users_json_and_the_users_file_both_log_in(fleet):
    assert fleet.post("/api/v1/weather", data=b"", headers={**CSV, **AUTH}).status_code != 401  # JSON user test
    assert fleet.get("/api/v1/uploads/x", headers=basic("carol", "C4rol-pw")).status_code == 404


def test_campbell_basic_form_is_accepted_only_where_the_endpoint_opts_in(fleet):
    accepted = fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, **campbell("cr1000x", "Campbell-pw-1")})
    assert accepted.status_code == 202, accepted.get_json()
    refused = fleet.post("/api/v1/weather", data=TREE_CSV, headers={**CSV, **campbell("cr1000x", "Campbell-pw-1")})
    assert refused.status_code == 401 and "campbell_basic: true" in refused.get_json()["error"]
    wrong = fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, **campbell("cr1000x", "guess")})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "wrong user name or password"


def test_a_changed_users_file_is_in_force_without_a_restart(fleet, users_file):
    new_key = "station-13.Qw7e8r9t0yUiOpAsDfGhJkLzXcVbNm12"
    assert fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": new_key}).status_code == 401
    assert fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": KEY}).status_code == 202
    write_users(users_file, f"""\
users:
  - name: station-13
    key_hash: "{generate_password_hash(new_key, method=CHEAP)}"
""")
    deadline = time.monotonic() + 5
    while fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": new_key}).status_code != 202:
        assert time.monotonic() < deadline, "the new users file was not read within 5 s"
        time.sleep(0.2)
    # The removed key no longer logs in, though this process remembered its success.
    assert fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": KEY}).status_code == 401


def test_an_invalid_new_users_file_is_refused_with_a_log_line_and_the_users_in_force_stay(fleet, users_file, caplog):
    write_users(users_file, "users:\n  - name: carol\n    pasword: Sekrit-typo-pw\n")
    time.sleep(1.1)  # past the once-a-second look at the file
    with caplog.at_level(logging.ERROR, logger="zarr_ingress"):
        response = fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": KEY})
    assert response.status_code == 202
    refusals = [r.getMessage() for r in caplog.records if "users_reload_refused" in r.getMessage()]
    assert len(refusals) == 1 and "users[0] (carol).pasword" in refusals[0] and "did you mean 'password'" in refusals[0]
    assert "Sekrit-typo-pw" not in caplog.text


def test_failed_logins_are_429_with_retry_after_while_a_remembered_logger_keeps_getting_202(tmp_path, users_file):
    settings = make_settings(tmp_path / "queue", USERS_FILE=str(users_file), LOGIN_FAILURES_MAX="3",
                             LOGIN_FAILURES_WINDOW="2")
    client = create_app(settings).test_client()
    assert client.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": KEY}).status_code == 202
    statuses = [client.get("/api/v1/uploads/x", headers=basic("carol", f"guess-{n}")).status_code for n in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]
    blocked = client.get("/api/v1/uploads/x", headers=basic("carol", "guess-7"))
    assert 1 <= int(blocked.headers["Retry-After"]) <= 2
    assert f"retry in {blocked.headers['Retry-After']} seconds (at 20" in blocked.get_json()["error"]
    assert blocked.get_json()["retry_after"] == int(blocked.headers["Retry-After"])
    # Same address, a logger that logged in before: never slowed.
    assert client.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": KEY}).status_code == 202
    # The right password, never seen by this gateway, is not even checked while blocked.
    assert client.get("/api/v1/uploads/x", headers=basic("carol", "C4rol-pw")).status_code == 429
    time.sleep(2.1)
    assert client.get("/api/v1/uploads/x", headers=basic("carol", "C4rol-pw")).status_code == 404  # logged in


def test_failures_for_one_user_name_block_it_from_every_address_but_not_other_users(tmp_path, users_file):
    settings = make_settings(tmp_path / "queue", USERS_FILE=str(users_file), LOGIN_FAILURES_MAX="2",
                             TRUSTED_PROXIES="127.0.0.1")
    client = create_app(settings).test_client()
    for n in range(2):
        hop = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
        assert client.get("/api/v1/uploads/x", headers={**hop, **basic("carol", f"g{n}")}).status_code == 401
    elsewhere = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get("/api/v1/uploads/x", headers={**elsewhere, **basic("carol", "g3")}).status_code == 429
    assert client.get("/api/v1/uploads/x", headers={**elsewhere, **basic("cr1000x", "Campbell-pw-1")}).status_code == 404


def test_x_forwarded_for_counts_only_when_the_peer_is_a_trusted_proxy(tmp_path, users_file):
    untrusted = create_app(make_settings(tmp_path / "q1", USERS_FILE=str(users_file),
                                         LOGIN_FAILURES_MAX="2")).test_client()
    for n in range(3):  # a forged header per guess does not make each guess a new address
        response = untrusted.get("/api/v1/uploads/x", headers={"X-Forwarded-For": f"192.0.2.{n}",
                                                                 **basic(f"nobody{n}", "g")})
    assert response.status_code == 429
    trusted = create_app(make_settings(tmp_path / "q2", USERS_FILE=str(users_file), LOGIN_FAILURES_MAX="2",
                                       TRUSTED_PROXIES="127.0.0.0/8")).test_client()
    for n in range(3):
        response = trusted.get("/api/v1/uploads/x", headers={"X-Forwarded-For": f"192.0.2.{n}",
                                                             **basic(f"nobody{n}", "g")})
        assert response.status_code == 401


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    header=st.one_of(
        st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80),
        st.builds(lambda scheme, raw: f"{scheme} {base64.b64encode(raw).decode()}",
                  st.sampled_from(["Basic", "basic", "BASIC", "Bearer", "Digest"]), st.binary(max_size=40)),
        st.builds(lambda a, b: f"Basic {a}:{b}", st.text("ABCabc019+/=:", max_size=12), st.text("ABCabc019+/=", max_size=12)),
        st.builds(lambda text: f"Bearer {text}", st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)),
    ),
    as_api_key=st.booleans(),
    route=st.sampled_from(["/api/v1/tree", "/api/v1/weather", "/api/v1/uploads/x"]),
)
def test_no_authorization_header_is_a_500(fleet, header, as_api_key, route):
    headers = {"X-API-Key": header} if as_api_key else {"Authorization": header}
    response = fleet.post(route, data=TREE_CSV, headers={**CSV, **headers}) if "uploads" not in route else \
        fleet.get(route, headers=headers)
    assert response.status_code in (202, 400, 401, 403, 404, 429), (header, response.get_json())
    assert response.get_json()["error" if response.status_code != 202 else "status"]


def test_users_file_errors_name_the_entry_and_key_with_a_did_you_mean(tmp_path):
    def error_of(text: str) -> str:
        with pytest.raises(ConfigError) as raised:
            make_settings(tmp_path / "queue", USERS_FILE=str(write_users(tmp_path / "u.yaml", text)))
        return str(raised.value)

    assert "users[0] (alice).key_hsah: unknown key (did you mean 'key_hash'?" in error_of(
        "users:\n  - name: alice\n    key_hsah: x\n")
    assert "users[1] (dave): needs a password or a key_hash" in error_of(
        "users:\n  - {name: carol, password: pw}\n  - {name: dave}\n")
    assert "users[0] (dave).endpoints: 'tre' is not an endpoint" in error_of(
        "users:\n  - {name: dave, password: pw, endpoints: [tre]}\n")
    assert "did you mean 'tree'?" in error_of("users:\n  - {name: dave, password: pw, endpoints: [tre]}\n")
    assert "users[0] (dave).key_hash: not a werkzeug hash" in error_of("users:\n  - {name: dave, key_hash: plain}\n")
    # A name in both places is refused at start, naming both.
    both = error_of("users:\n  - {name: alice, password: other-pw}\n")
    assert "users[0] (alice).name: also in BASIC_AUTH_USERS_JSON" in both and "other-pw" not in both
    assert "not valid YAML" in error_of("users: [\n")


def test_bad_trusted_proxies_and_campbell_basic_values_stop_the_start_naming_them(tmp_path):
    with pytest.raises(ConfigError, match=r"TRUSTED_PROXIES: 'proxy\.local' is not an IP address"):
        make_settings(tmp_path / "queue", TRUSTED_PROXIES="10.0.0.0/8, proxy.local")
    config = endpoints_file(tmp_path)
    config.write_text(config.read_text().replace("campbell_basic: true", "campbell_basic: yes please"))
    with pytest.raises(ConfigError, match=r"\(tree\)\.campbell_basic: expected true or false"):
        make_settings(tmp_path / "queue", ENDPOINTS_CONFIG=str(config))


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "client"), [
    ("203.0.113.5", "192.0.2.1", (), "203.0.113.5"),  # no trusted proxies: the header is ignored
    ("203.0.113.5", "192.0.2.1", ("10.0.0.0/8",), "203.0.113.5"),  # the peer is not a trusted proxy
    ("10.1.2.3", "192.0.2.1", ("10.0.0.0/8",), "192.0.2.1"),
    ("10.1.2.3", "198.51.100.7, 192.0.2.1, 10.9.9.9", ("10.0.0.0/8",), "192.0.2.1"),  # the left may be forged
    ("10.1.2.3", "not-an-address", ("10.0.0.0/8",), "10.1.2.3"),
    ("::1", "2001:db8::1", ("::1",), "2001:db8::1"),
])
def test_the_client_address_is_the_last_hop_before_the_trusted_proxies(peer, forwarded, trusted, client):
    assert client_address(peer, forwarded, tuple(ip_network(t) for t in trusted)) == client


def test_a_new_users_file_naming_a_basic_auth_users_json_user_is_refused_and_both_stay(fleet, users_file, caplog):
    write_users(users_file, "users:\n  - {name: test, password: Takeover-pw-1}\n")
    time.sleep(1.1)
    with caplog.at_level(logging.ERROR, logger="zarr_ingress"):
        assert fleet.get("/api/v1/uploads/x", headers=basic("test", "Takeover-pw-1")).status_code == 401
    assert "users[0] (test).name: also in BASIC_AUTH_USERS_JSON" in caplog.text and "Takeover-pw-1" not in caplog.text
    assert fleet.get("/api/v1/uploads/x", headers=AUTH).status_code == 404  # the JSON user, logged in
    assert fleet.post("/api/v1/tree", data=TREE_CSV, headers={**CSV, "X-API-Key": KEY}).status_code == 202
