"""compose.yaml: the gateway believes X-Forwarded-For from the stack's nginx proxy, and only from it
(and from what .env adds), so failed logins count per client, not all as the proxy's address.

The file is read as Docker Compose reads it: the variables interpolated (the forms compose.yaml
uses) from a `.env` given here, then the settings loaded by the project's own code.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

from gateway.login import client_address
from shared.config import load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
CLIENT = "198.51.100.7"  # a logger on the internet, as nginx appends it to X-Forwarded-For
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}")


def interpolate(text: str, environ: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alternative}, ${VAR+alternative}."""
    def value(match: re.Match) -> str:
        name, operator, operand = match.group(1), match.group(2), match.group(3) or ""
        present = name in environ
        filled = bool(environ.get(name))
        if operator in (":-", "-"):
            return environ[name] if (filled if operator == ":-" else present) else operand
        if operator in (":+", "+"):
            return operand if (filled if operator == ":+" else present) else ""
        return environ.get(name, "")

    return VARIABLE.sub(value, text.replace("$$", "\0")).replace("\0", "$")


def stack(environ: dict[str, str]) -> dict:
    return yaml.safe_load(interpolate(COMPOSE.read_text(encoding="utf-8"), environ))


def gateway_settings(compose: dict, tmp_path: Path):
    environment = {key: str(value) for key, value in compose["services"]["gateway"]["environment"].items()}
    return load_settings({**environment, "QUEUE_DIR": str(tmp_path / "queue"),
                          "BASIC_AUTH_USERS_JSON": '{"test": "test"}'}, dotenv=None)


def proxy_address(compose: dict) -> str:
    return compose["services"]["proxy"]["networks"]["default"]["ipv4_address"]


DOTENVS = {
    "defaults": {},
    "own subnet": {"INGRESS_SUBNET": "10.77.3.0/24", "INGRESS_IP_RANGE": "10.77.3.64/26", "PROXY_ADDRESS": "10.77.3.5"},
    "a balancer in front": {"TRUSTED_PROXIES": "192.0.2.10"},
}


@pytest.mark.parametrize("dotenv", DOTENVS.values(), ids=DOTENVS.keys())
def test_the_gateway_counts_logins_through_the_stacks_proxy_per_client(dotenv, tmp_path):
    compose = stack(dotenv)
    proxy = proxy_address(compose)
    trusted = gateway_settings(compose, tmp_path).trusted_proxies
    assert client_address(proxy, CLIENT, trusted) == CLIENT
    # Anyone else in the stack's network (a container, or a client reaching the gateway's own
    # port through Docker) is not believed.
    (network,) = compose["networks"]["default"]["ipam"]["config"]
    other = str(next(ipaddress.ip_network(network["ip_range"]).hosts()))
    assert client_address(other, CLIENT, trusted) == other
    if "TRUSTED_PROXIES" in dotenv:  # what .env names is trusted as well, in front of the proxy
        assert client_address(proxy, f"{CLIENT}, 192.0.2.10", trusted) == CLIENT


@pytest.mark.parametrize("dotenv", DOTENVS.values(), ids=DOTENVS.keys())
def test_the_proxys_fixed_address_is_in_the_stacks_subnet_and_outside_the_range_others_get(dotenv):
    compose = stack(dotenv)
    (network,) = compose["networks"]["default"]["ipam"]["config"]
    proxy = ipaddress.ip_address(proxy_address(compose))
    subnet, dynamic = ipaddress.ip_network(network["subnet"]), ipaddress.ip_network(network["ip_range"])
    assert proxy in subnet and dynamic.subnet_of(subnet) and proxy not in dynamic
    # The services without networks: are on the default network, so the proxy reaches the gateway.
    assert all(set(service.get("networks", {"default": None})) == {"default"}
               for service in compose["services"].values())


def test_the_proxy_appends_the_client_to_x_forwarded_for():
    template = (REPO / "deploy" / "nginx" / "ingress.conf.template").read_text(encoding="utf-8")
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;", template)


def test_env_example_names_the_stacks_defaults():
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    defaults = dict(re.findall(r"\$\{(INGRESS_SUBNET|INGRESS_IP_RANGE|PROXY_ADDRESS):-([^}]*)\}",
                               COMPOSE.read_text(encoding="utf-8")))
    assert set(defaults) == {"INGRESS_SUBNET", "INGRESS_IP_RANGE", "PROXY_ADDRESS"}
    for name, value in defaults.items():
        assert f"# {name}={value}\n" in example
