"""The transform suite again, on a local Ray cluster: same inputs, same tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SUITE = [
    "tests/layers/test_silver.py",
    "tests/pipeline/test_process.py",
    # the same cycle on object storage behind an Iceberg REST catalog
    "tests/lakehouse/test_catalog_behaviour.py::"
    "test_a_cycle_with_gates_then_query_status_history_time_travel_and_rollback[rest]",
]


@pytest.mark.long
def test_the_transform_suite_passes_on_ray() -> None:
    pytest.importorskip("ray", reason="install the ray extra: pip install 'wikistream[ray]'")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TESTS_RUNNER": "ray", "RAY_ADDRESS": ""},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
