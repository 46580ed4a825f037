"""The Dockerfile (hadolint; its entrypoint and roles are real CLI commands; the install
step is `make runtime`, which this test runs for real) and deploy/compose.yaml (parsed: only
images, files, ports and settings that exist)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tests.support.servers import free_port
from wikistream.cli.main import cli
from wikistream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def command_of(args: list[str]) -> click.Command:
    """The CLI command `args` (global options first) runs; fails if it would not parse."""
    context = cli.make_context("wikistream", list(args), resilient_parsing=False)
    name, *rest = [*getattr(context, "_protected_args", []), *context.args]
    command = cli.get_command(context, name)
    assert command is not None, f"no command {name!r}"
    command.make_context(name, rest, parent=context)  # unknown options fail here
    return command


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_a_user_with_the_cli_as_entrypoint_and_a_health_check() -> None:
    steps = instructions()
    keywords = [k for k, _ in steps]
    assert keywords.count("FROM") == 2  # build stage, slim runtime stage
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["wikistream"]
    command_of(json.loads(dict(steps)["CMD"]))
    assert dict(steps)["USER"] == "10001:10001"
    assert "/healthz" in dict(steps)["HEALTHCHECK"]
    assert "make runtime" in dict(steps)["RUN"] or any(
        "make runtime" in r for k, r in steps if k == "RUN"
    )
    for role in re.findall(r"^#   (\w.*?)\s{2,}", DOCKERFILE.read_text(), re.M):
        command_of(shlex.split(role.replace("…", "127.0.0.1:9092/rc")))


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def expand(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_compose_references_only_what_exists() -> None:
    services = compose()["services"]
    assert {
        "kafka",
        "postgres",
        "seaweedfs",
        "producer",
        "bronze-1",
        "bronze-2",
        "processor",
        "web",
        "prometheus",
        "grafana",
    } <= set(services)
    ours = {n: s for n, s in services.items() if s.get("image") == "wikistream:local"}
    assert len(ours) >= 6
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} is missing"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for other in service.get("depends_on", {}):
            assert other in services, f"{name} depends on unknown {other}"
    for name, service in ours.items():
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).exists(), name
        command = command_of(service["command"])
        assert command.name in {"init", "produce", "run", "serve"}, name
        env = {k: expand(str(v)) for k, v in service["environment"].items()}
        config = COMPOSE.parent / "compose" / "wikistream.toml"
        settings = Settings.model_validate(_merge(_toml(config), _from_env(env)))
        assert settings.catalog.type == "sql" and settings.warehouse.startswith("s3://")
    scraped = yaml.safe_load((COMPOSE.parent / "prometheus" / "compose-scrape.yml").read_text())
    for target in scraped["scrape_configs"][0]["static_configs"][0]["targets"]:
        host, port = target.split(":")
        assert (
            host in ours
            and "--serve" in ours[host]["command"]
            or ours[host]["command"][0] == "serve"
        ), target
        assert int(port) == Settings().web.port


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text())


def _from_env(env: dict[str, str]) -> dict[str, Any]:
    """WIKISTREAM_A__B=v as {"a": {"b": v}} (JSON values parsed), as pydantic-settings does."""
    tree: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith("WIKISTREAM_") or key == "WIKISTREAM_CONFIG":
            continue
        parts = key.removeprefix("WIKISTREAM_").lower().split("__")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = json.loads(value) if value.startswith("{") else value
    return tree


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        merged[key] = (
            _merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


@pytest.mark.integration
def test_the_image_install_step_gives_a_working_cli_without_dev_tools(tmp_path: Path) -> None:
    """What the Dockerfile's build stage runs (make runtime), into a fresh venv."""
    venv = tmp_path / "opt-wikistream"
    done = subprocess.run(
        ["make", "runtime", f"VENV={venv}", f"PYTHON={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (venv / "bin" / "wikistream").exists()
    for dev_tool in ("pytest", "ruff", "mypy", "moto_server", "playwright"):
        assert not (venv / "bin" / dev_tool).exists(), f"{dev_tool} is in the image"
    lock = dict(
        re.findall(r"^([a-z0-9_.-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    )
    frozen = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {
        p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(frozen.stdout)
    }
    runtime = ("pyiceberg", "daft", "fastapi", "uvicorn", "confluent-kafka", "prometheus-client")
    for package in runtime:
        assert installed[package] == lock[package], package  # pinned by the lock
    # The installed package (not the checkout) serves the page and its vendored script.
    port = free_port()
    env = {**os.environ, "WIKISTREAM_WAREHOUSE": str(tmp_path / "wh")}
    server = subprocess.Popen(
        [str(venv / "bin" / "wikistream"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/static/vendor/uplot/uPlot.iife.min.js", timeout=2
                ) as answer:
                    assert answer.status == 200 and b"uPlot" in answer.read()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        site = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import wikistream; print(wikistream.__file__)"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=True,
        ).stdout
        assert str(venv) in site  # not the checkout
    finally:
        server.terminate()
        server.wait(10)
