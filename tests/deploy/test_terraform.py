"""deploy/terraform, checked offline: every file parses (python-hcl2), and the IAM policies
grant no `*` action, no `service:*` action, no Resource "*" without a comment saying why AWS
requires it. (checkov scans the same files in `make check`, from its own virtualenv.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "terraform"
FILES = sorted(ROOT.rglob("*.tf"))
MODULES = ("network", "storage", "streaming", "compute", "monitoring", "secrets")


def parsed(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = unquoted(hcl2.load(handle))
    return document


def unquoted(node: Any) -> Any:
    """python-hcl2 8 keeps the quotes of block labels and strings: drop them."""
    if isinstance(node, dict):
        return {unquoted(k): unquoted(v) for k, v in node.items() if k != "__comments__"}
    if isinstance(node, list):
        return [unquoted(item) for item in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def policy_statements() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """Every statement of every `aws_iam_policy_document` data source."""
    for path in FILES:
        for data in parsed(path).get("data", []):
            for name, body in data.get("aws_iam_policy_document", {}).items():
                for statement in body.get("statement", []):
                    yield path, name, statement
                for dynamic in body.get("dynamic", []):
                    for content in dynamic.get("statement", {}).get("content", []):
                        yield path, name, content


def values(field: Any) -> list[str]:
    if isinstance(field, list):
        return [v for item in field for v in values(item)]
    return [str(field)]


def test_every_file_parses_and_the_layout_has_a_module_per_concern() -> None:
    assert len(FILES) > 10
    for path in FILES:
        parsed(path)  # raises on a syntax error
    for module in MODULES:
        assert (ROOT / "modules" / module).is_dir(), module
    for environment in ("dev", "staging", "prod"):
        text = (ROOT / "environments" / f"{environment}.tfvars").read_text()
        assert f'environment         = "{environment}"' in text
    required = parsed(ROOT / "versions.tf")["terraform"][0]["required_providers"][0]["aws"]
    assert required["version"].startswith("~> 5.")


def test_no_wildcard_actions_and_every_star_resource_is_explained() -> None:
    statements = list(policy_statements())
    assert len(statements) > 30
    for path, name, statement in statements:
        actions = values(statement.get("actions", []))
        assert actions, (path, name)
        for action in actions:
            assert "*" not in action, f"{path.name}:{name}: wildcard action {action}"
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), (path.name, name, action)
        assert "not_actions" not in statement, (path.name, name)
    stars = [(p, n, s) for p, n, s in statements if "*" in values(s.get("resources", []))]
    assert stars, "the test should see the few places AWS requires a star"
    for path in {p for p, _, _ in stars}:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r'resources\s*=\s*\["\*"\]', line):
                assert re.search(r'#\s*"\*":? .{15,}', line), (
                    f'{path.name}:{number}: Resource "*" without the reason AWS requires it'
                )


def test_each_service_role_gets_only_its_own_commands_actions() -> None:
    by_document = {}
    for path, name, statement in policy_statements():
        if path.parent.name == "compute":
            by_document.setdefault(name, set()).update(values(statement["actions"]))
    web = by_document["web"]
    assert not any(a.startswith(("glue:Create", "glue:Update", "glue:Delete")) for a in web)
    assert not {"s3:PutObject", "s3:DeleteObject"} & web  # the dashboard is read-only
    assert "s3:DeleteObject" not in by_document["bronze"]  # only the processor expires files
    assert "kafka-cluster:WriteData" in by_document["producer"]
    assert not any(a.startswith(("glue:", "s3:")) for a in by_document["producer"])
    assert "glue:CreateTable" in by_document["setup"]
    assert not any("CreateTable" in a for k, v in by_document.items() if k != "setup" for a in v)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_literal_secret_or_public_exposure(path: Path) -> None:
    text = path.read_text()
    secret_attribute = r"(?i)\b(password|secret_string|secret_key|master_user_password)"
    assert not re.search(secret_attribute + r"\s*=\s*\"[^\"$]", text)  # values: never here
    assert "internal                   = false" not in text
    assert "assign_public_ip = true" not in text
