"""The catalog setups one behaviour suite runs against (pyiceberg's test_catalog_behaviors).

* `sqlite`   — the embedded default: SQLite SqlCatalog, local warehouse folder.
* `postgres` — PostgreSQL SqlCatalog, tables and documents on S3 (SeaweedFS).
* `rest`     — SeaweedFS's Iceberg REST catalog over an S3 Tables bucket, signed with SigV4
               (signing name `s3tables`, as AWS S3 Tables wants); documents on its S3; no
               keys in the configuration: the standard AWS chain finds them (environment).
* `glue`     — AWS Glue and S3 on moto in server mode.

Each test gets its own catalog namespace space: a fresh folder, PostgreSQL catalog name,
table bucket, or a reset moto.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.servers import (
    ACCESS_KEY,
    POSTGRES_URL,
    SECRET_KEY,
    Moto,
    SeaweedFS,
    aws_env,
    drop_postgres_catalog,
)
from tests.support.warehouse import TEST_RUNNER
from wikistream.settings import Settings, load_settings

SETUPS = ("sqlite", "postgres", "rest", "glue")


@dataclass
class Setup:
    """One catalog setup for one test: settings for in-process use, a config file for the
    CLI, the environment the CLI needs (AWS credentials, as on a real host)."""

    name: str
    values: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    cleanup: list[Any] = field(default_factory=list)

    @property
    def remote(self) -> bool:
        return self.name != "sqlite"

    def config(self, folder: Path, **more: Any) -> Path:
        """The settings as a TOML file, as a user would write it (on the test runner: the
        transform suite runs again on Ray, tests/pipeline/test_ray.py)."""
        values = _merge(_merge(self.values, {"engine": {"runner": TEST_RUNNER}}), more)
        path = folder / f"wikistream-{self.name}.toml"
        path.write_text(_toml(values), encoding="utf-8")
        return path

    def settings(self, folder: Path, **more: Any) -> Settings:
        """The settings a command run with `config(folder, …)` sees (every wiki kept)."""
        return load_settings(self.config(folder, **{"filters": {"domains": ["*"]}, **more}))

    def close(self) -> None:
        for action in self.cleanup:
            action()


def make_setup(name: str, folder: Path, seaweed: SeaweedFS | None, moto: Moto | None) -> Setup:
    tag = uuid.uuid4().hex[:10]
    s3_secrets = {"s3.access-key-id": ACCESS_KEY, "s3.secret-access-key": SECRET_KEY}
    if name == "sqlite":
        return Setup(name, {"warehouse": str(folder / "wh")})
    if name == "postgres":
        assert seaweed is not None
        catalog = f"ws_{tag}"
        setup = Setup(
            name,
            {
                "warehouse": f"s3://wikistream/{tag}",
                "catalog": {
                    "name": catalog,
                    "type": "sql",
                    "uri": POSTGRES_URL,
                    "properties": _s3(seaweed.s3),
                    "secrets": s3_secrets,
                },
            },
            env=aws_env(),
            secrets=[SECRET_KEY],
        )
        setup.cleanup.append(lambda: drop_postgres_catalog(catalog))
        return setup
    if name == "rest":  # no keys in the file: the standard AWS chain (here: environment)
        assert seaweed is not None
        bucket = seaweed.table_bucket(f"tb-{tag}")
        return Setup(
            name,
            {
                "warehouse": f"s3://wikistream/{tag}",
                "catalog": {
                    "type": "rest",
                    "uri": seaweed.rest,
                    "properties": {
                        **_s3(seaweed.s3),
                        "warehouse": bucket,
                        "rest.sigv4-enabled": "true",
                        "rest.signing-name": "s3tables",
                        "rest.signing-region": "us-east-1",
                    },
                },
            },
            env=aws_env(),
            secrets=[SECRET_KEY],
        )
    if name == "glue":
        assert moto is not None
        moto.reset()
        bucket = f"wikistream-{tag}"
        moto.client("s3").create_bucket(Bucket=bucket)
        return Setup(
            name,
            {
                "warehouse": f"s3://{bucket}/wh",
                "catalog": {
                    "type": "glue",
                    "properties": {
                        **_s3(moto.url),
                        "glue.endpoint": moto.url,
                        "glue.region": "us-east-1",
                    },
                    "secrets": {
                        **s3_secrets,
                        "glue.access-key-id": ACCESS_KEY,
                        "glue.secret-access-key": SECRET_KEY,
                    },
                },
            },
            env=aws_env(),
            secrets=[SECRET_KEY],
        )
    raise AssertionError(name)


def _s3(endpoint: str) -> dict[str, str]:
    return {"s3.endpoint": endpoint, "s3.region": "us-east-1", "s3.path-style-access": "true"}


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _toml(values: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for nested tables of strings, numbers and lists."""
    scalars = [
        f"{json.dumps(k) if '.' in k or '-' in k else k} = {json.dumps(v)}"
        for k, v in values.items()
        if not isinstance(v, dict)
    ]
    text = (f"[{prefix}]\n" if prefix and scalars else "") + "".join(
        f"{line}\n" for line in scalars
    )
    for key, value in values.items():
        if isinstance(value, dict):
            text += _toml(value, f"{prefix}.{key}" if prefix else key)
    return text
