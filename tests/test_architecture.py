"""The layering rules of docs/architecture.md, checked against the code's real imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "wikistream"

# A package may import its own modules and packages of a lower rank, never a higher one.
RANKS = {
    "__init__": 0, "__main__": 9, "exceptions": 0, "settings": 0, "times": 0, "engine": 0,
    "redaction": 0, "metrics": 0,
    "lakehouse": 1, "sources": 1, "sinks": 1, "kafka": 1, "alerts": 1,
    "events": 2,
    "layers": 3, "risk": 3,
    "quality": 4,
    "pipeline": 5,
    "ops": 6,
    "web": 7,
    "cli": 8,
}  # fmt: skip


def _modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        package = parts[0].removesuffix(".py")
        yield package, path, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, node.lineno
            if node.module == "wikistream":
                for alias in node.names:
                    yield f"wikistream.{alias.name}", node.lineno


def test_every_package_has_a_rank() -> None:
    assert {package for package, _, _ in _modules()} <= set(RANKS)


def test_only_the_lakehouse_imports_pyiceberg() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line}"
        for package, path, tree in _modules()
        for module, line in _imports(tree)
        if module.split(".")[0] == "pyiceberg" and package != "lakehouse"
    ]
    assert offenders == []


def test_only_the_kafka_modules_import_confluent_kafka() -> None:
    allowed = {"kafka", "sources/kafka.py", "sinks/kafka.py"}
    offenders = [
        f"{path.relative_to(SRC)}:{line}"
        for package, path, tree in _modules()
        for module, line in _imports(tree)
        if module.split(".")[0] == "confluent_kafka"
        and package not in allowed
        and str(path.relative_to(SRC)) not in allowed
    ]
    assert offenders == []


@pytest.mark.parametrize(("library", "allowed"), [
    ("fastapi", {"web"}), ("starlette", {"web"}), ("uvicorn", {"web"}),
    ("prometheus_client", {"metrics.py", "web"}),
])  # fmt: skip
def test_only_the_web_package_imports_the_web_libraries(library: str, allowed: set[str]) -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line}"
        for package, path, tree in _modules()
        for module, line in _imports(tree)
        if module.split(".")[0] == library
        and package not in allowed
        and str(path.relative_to(SRC)) not in allowed
    ]
    assert offenders == []


def test_imports_only_go_down_the_layers() -> None:
    upward = []
    for package, path, tree in _modules():
        for module, line in _imports(tree):
            parts = module.split(".")
            if parts[0] != "wikistream" or len(parts) < 2 or parts[1] == package:
                continue
            target = parts[1] if parts[1] in RANKS else "__init__"
            if RANKS[target] > RANKS[package]:
                upward.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert upward == []


@pytest.mark.parametrize("call", ["setLevel", "basicConfig", "addHandler", "print", "echo"])
def test_only_the_cli_configures_logging_or_prints(call: str) -> None:
    offenders = []
    for package, path, tree in _modules():
        if package == "cli":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
            )
            if name == call:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


# Packages of one level never import each other, except these (docs/architecture.md, rule 2).
SIDEWAYS = {
    ("sources", "kafka"),  # kafka/ is the Kafka clients' common ground
    ("sinks", "kafka"),
    ("settings", "exceptions"),
    ("settings", "redaction"),  # the secrets it holds are registered for redaction
    ("settings", "__init__"),  # the version, in the default User-Agent
    ("times", "exceptions"),
    ("engine", "exceptions"),
    ("engine", "settings"),
}


def test_packages_of_one_level_do_not_import_each_other() -> None:
    sideways = []
    for package, path, tree in _modules():
        for module, line in _imports(tree):
            parts = module.split(".")
            if parts[0] != "wikistream" or len(parts) < 2 or parts[1] == package:
                continue
            target = parts[1] if parts[1] in RANKS else "__init__"
            if RANKS[target] == RANKS[package] and (package, target) not in SIDEWAYS:
                sideways.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert sideways == []


# PyIceberg's Table methods: above lakehouse/ a table is an opaque handle (rule 1).
TABLE_METHODS = {
    "refresh", "current_snapshot", "snapshot_by_id", "scan", "incremental_append_scan",
    "transaction", "manage_snapshots", "update_schema", "update_spec", "snapshots",
    "snapshot_as_of_timestamp", "overwrite", "inspect", "maintenance",
}  # fmt: skip


def test_no_pyiceberg_table_calls_above_the_lakehouse() -> None:
    offenders = []
    for package, path, tree in _modules():
        if package == "lakehouse":
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in TABLE_METHODS
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "daft")
            ):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} .{node.func.attr}()")
    assert offenders == []


def test_documents_only_through_the_lakehouse_and_settings_passed_once() -> None:
    """Documents come from `Lakehouse.documents`; a function that has the lakehouse does
    not take the settings it holds as well (rule 1)."""
    built, twice = [], []
    for package, path, tree in _modules():
        for node in ast.walk(tree):
            is_built = isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Documents"
            if is_built and package != "lakehouse":
                built.append(f"{path.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = node.args.args + node.args.kwonlyargs
                kinds = {ast.unparse(a.annotation) for a in arguments if a.annotation}
                if "Lakehouse" in kinds and "Settings" in kinds:
                    twice.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert built == [] and twice == []
