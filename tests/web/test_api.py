"""The JSON API on a real demo warehouse: its numbers equal SQL over the same tables, bad
input gets 4xx (never 5xx or a traceback), nothing can be changed without the admin token."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.web.conftest import Warehouse, make_warehouse
from wikistream.lakehouse.query import run_query
from wikistream.lakehouse.store import Lakehouse
from wikistream.web.app import create_app
from wikistream.web.security import CSP

LOCAL = "http://localhost"  # a host the server answers to (web.allowed_hosts)


@pytest.fixture(scope="module")
def client(demo: Warehouse) -> TestClient:
    return TestClient(create_app(demo.settings), base_url=LOCAL, raise_server_exceptions=False)


def sql(warehouse: Warehouse, statement: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = run_query(
        Lakehouse.reader(warehouse.settings), statement
    ).to_pylist()
    return rows


def stamp(moment: datetime) -> str:
    """A timestamp literal Daft's SQL reads (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def last_hour_start(client: TestClient) -> datetime:
    until = datetime.fromisoformat(client.get("/api/overview").json()["data_until"])
    window = until.replace(minute=until.minute - until.minute % 10, second=0, microsecond=0)
    return window - timedelta(minutes=50)


def test_top_wikis_and_editor_mix_equal_sql_over_gold_and_silver(
    client: TestClient, demo: Warehouse
) -> None:
    first = stamp(last_hour_start(client))
    wikis = client.get("/api/wikis", params={"limit": 10}).json()
    expected = sql(
        demo,
        f"SELECT entity, sum(events) AS events, sum(edits) AS edits "
        f"FROM gold.metrics_10min WHERE scope = 'entity' AND window_start >= "
        f"TIMESTAMP '{first}' GROUP BY entity ORDER BY events DESC, entity "
        f"LIMIT 10",
    )
    assert len(wikis) == 10
    assert [(w["domain"], w["events"], w["edits"]) for w in wikis] == [
        (e["entity"], e["events"], e["edits"]) for e in expected
    ]
    # The mix comes from gold's 10-minute windows; silver's rows must say the same.
    mix = client.get("/api/mix").json()
    [silver] = sql(
        demo,
        f"SELECT count(*) AS n, avg(CASE WHEN is_bot THEN 1.0 ELSE 0.0 END) "
        f"AS bot, avg(CASE WHEN is_anonymous THEN 1.0 ELSE 0.0 END) AS anon "
        f"FROM silver.events WHERE event_ts >= TIMESTAMP '{first}'",
    )
    assert mix["events"] == silver["n"] > 1000
    assert mix["bot"] == pytest.approx(silver["bot"], abs=1e-4)
    assert mix["anonymous"] == pytest.approx(silver["anon"], abs=1e-4)
    assert mix["human"] == pytest.approx(1 - mix["bot"] - mix["anonymous"], abs=1e-3)
    assert 0 < mix["bot"] < 1 and 0 < mix["anonymous"] < 1


def test_activity_counts_every_edit_of_silver_once(client: TestClient, demo: Warehouse) -> None:
    activity = client.get("/api/activity", params={"hours": 6, "wikis": 3}).json()
    assert 6 <= len(activity["times"]) == len(activity["total"]) <= 36
    assert activity["times"] == sorted(activity["times"])
    assert {b - a for a, b in zip(activity["times"], activity["times"][1:], strict=False)} <= {600}
    assert (
        list(activity["wikis"])
        == [
            w["domain"]
            for w in sorted(
                client.get("/api/wikis", params={"limit": 200}).json(),
                key=lambda w: (-w["edits"], w["domain"]),
            )
        ][:3]
    )
    first = stamp(datetime.fromtimestamp(activity["times"][0], UTC))
    [edits] = sql(
        demo,
        f"SELECT count(*) AS n FROM silver.events WHERE type = 'edit' AND "
        f"event_ts >= TIMESTAMP '{first}'",
    )
    assert round(sum(activity["total"]) * 10) == edits["n"] > 1000


def test_risk_leaderboard_and_drill_down_equal_sql(client: TestClient, demo: Warehouse) -> None:
    risk = client.get("/api/risk", params={"limit": 5}).json()
    until = datetime.fromisoformat(client.get("/api/overview").json()["data_until"])
    first = stamp(until.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1))
    expected = sql(
        demo,
        f'SELECT "user", max(risk_score) AS score FROM gold.risk_scores '
        f"WHERE window_start >= TIMESTAMP '{first}' "
        f'GROUP BY "user" ORDER BY score DESC, "user" LIMIT 5',
    )
    assert [(r["user"], r["risk_score"]) for r in risk] == [
        (e["user"], e["score"]) for e in expected
    ]
    assert all(r["reasons"] and r["risk_level"] for r in risk)
    user = risk[0]["user"]
    edits = client.get("/api/users/edits", params={"user": user, "limit": 200}).json()
    rows = sql(
        demo,
        f"SELECT event_ts, title FROM silver.events WHERE \"user\" = '{user}' "
        f"ORDER BY event_ts DESC",
    )
    assert [e["title"] for e in edits] == [r["title"] for r in rows] and edits
    assert {"domain", "length_delta", "comment", "is_revert", "revert_method"} <= set(edits[0])


def test_tables_deletions_gates_and_freshness(client: TestClient, demo: Warehouse) -> None:
    tables = {t["table"]: t for t in client.get("/api/tables").json()}
    for name in ("bronze.events", "silver.events", "gold.risk_scores", "dq.results"):
        [count] = sql(demo, f"SELECT count(*) AS n FROM {name}")
        assert tables[name]["rows"] == count["n"] > 0
    deletions = client.get("/api/deletions", params={"limit": 200}).json()
    [count] = sql(demo, "SELECT count(*) AS n FROM silver.events WHERE is_large_deletion")
    assert len(deletions) == count["n"] > 0
    assert deletions == sorted(deletions, key=lambda d: d["event_ts"], reverse=True)
    gates = client.get("/api/gates").json()
    assert {g["table"] for g in gates["latest"]} >= {"silver.events", "gold.hourly_stats"}
    assert gates["held"] == [] and len(gates["failures_per_hour"]["times"]) == 24
    layers = {f["layer"]: f for f in client.get("/api/freshness").json()}
    assert set(layers) == {"bronze", "silver", "gold"}
    assert all(f["lag_s"] is not None and f["lag_s"] >= 0 for f in layers.values())


def test_status_is_the_cli_document_and_healthz_follows_its_exit_code(
    client: TestClient, demo: Warehouse, tmp_path: Path
) -> None:
    served = client.get("/api/status").json()
    printed = json.loads(demo.cli("status", "--output", "json"))
    moving = {"seconds_since_commit", "freshness_lag_s"}  # seconds: differ by the time between
    strip = [{k: v for k, v in t.items() if k not in moving} for t in printed["tables"]]
    assert [{k: v for k, v in t.items() if k not in moving} for t in served["tables"]] == strip
    assert {k: v for k, v in served.items() if k not in ("tables", "run")} == {
        k: v for k, v in printed.items() if k not in ("tables", "run")
    }
    assert client.get("/healthz").status_code == 200
    empty = make_warehouse(tmp_path, 0)  # no tables: status exits 4, healthz says 503
    answer = TestClient(create_app(empty.settings), base_url=LOCAL).get("/healthz")
    assert answer.status_code == 503 and "no tables yet" in answer.json()["problems"][0]
    assert not (tmp_path / "wh").exists()  # read-only: serving created nothing


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/api/overview", "/static/app.js", "/metrics", "/nowhere"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    page = client.get("/").text
    assert (
        "<script>" not in page
        and " style=" not in page
        and "http" not in page.replace('content="width=device-width', "")
    )  # no inline code, no other origin


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/nowhere", 404),
    ("GET", "/static/", 404),  # no directory listing
    ("GET", "/static/../settings.py", 404),
    ("GET", "/static/%2e%2e/web/app.py", 404),
    ("GET", "/api/risk?limit=0", 422),
    ("GET", "/api/risk?limit=abc", 422),
    ("GET", "/api/risk?limit=100000000000000000000000", 422),
    ("GET", "/api/activity?hours=-1", 422),
    ("GET", "/api/activity?hours=nan", 422),
    ("GET", "/api/users/edits", 422),
    ("GET", "/api/users/edits?user=", 422),
    ("GET", "/api/users/edits?user=" + "x" * 300, 422),
    ("GET", "/api/overview?" + "a=1&" * 2000, 414),
    ("POST", "/api/overview", 405),
    ("PUT", "/api/tables", 405),
    ("DELETE", "/api/status", 405),
    ("PATCH", "/", 405),
    ("POST", "/api/gates/r1/release", 403),  # no admin token configured: changes are off
])  # fmt: skip
def test_bad_requests_get_4xx_without_a_traceback(
    client: TestClient, method: str, path: str, status: int
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text and 'File "' not in answer.text


@pytest.mark.parametrize("user", [
    "x' OR '1'='1", "\"; DROP TABLE silver.events; --", "' UNION SELECT * FROM bronze.events --",
    "Robert'); DELETE FROM silver.events WHERE ('1'='1", "%00", "../../etc/passwd",
    "<script>alert(1)</script>",
])  # fmt: skip
def test_injection_attempts_are_just_user_names_nobody_has(
    client: TestClient, demo: Warehouse, user: str
) -> None:
    before = sql(demo, "SELECT count(*) AS n FROM silver.events")
    answer = client.get("/api/users/edits", params={"user": user})
    assert answer.status_code == 200 and answer.json() == []
    assert sql(demo, "SELECT count(*) AS n FROM silver.events") == before


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    answer = client.post(
        "/api/gates/r1/release",
        content=b"x" * 100_000,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413


def test_releasing_a_batch_needs_the_admin_token(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path, 0, admin_token='"s3cret-admin-token"')
    client = TestClient(
        create_app(warehouse.settings), base_url=LOCAL, raise_server_exceptions=False
    )
    assert client.post("/api/gates/r1/release").status_code == 401
    wrong = client.post("/api/gates/r1/release", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "s3cret" not in wrong.text
    right = client.post(
        "/api/gates/r1/release", headers={"authorization": "Bearer s3cret-admin-token"}
    )
    assert right.status_code == 409 and "no gate run 'r1'" in right.json()["detail"]


def test_many_requests_cost_one_read_per_view_per_interval(demo: Warehouse) -> None:
    from wikistream import metrics

    cached = demo.settings.web.model_copy(update={"cache_s": 60})
    client = TestClient(
        create_app(demo.settings.model_copy(update={"web": cached})), base_url=LOCAL
    )
    before = metrics.WEB_CACHE_MISSES.labels(view="risk")._value.get()
    for _ in range(25):
        assert client.get("/api/overview").status_code == 200
    assert metrics.WEB_CACHE_MISSES.labels(view="risk")._value.get() - before == 1


def test_other_hosts_are_refused_head_works_and_refused_tokens_are_logged(
    demo: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    """A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) sends its
    own Host: refused before any route runs."""
    app = create_app(demo.settings, "127.0.0.1")
    evil = TestClient(app, base_url="http://evil.example")
    answer = evil.get("/api/status")
    assert answer.status_code == 400 and "warehouse" not in answer.text
    for host in ("http://127.0.0.1:8765", "http://localhost", "http://[::1]:8765"):
        assert TestClient(app, base_url=host).get("/healthz").status_code in (200, 503)
    configured = demo.settings.model_copy(
        update={"web": demo.settings.web.model_copy(update={"allowed_hosts": ["dash.example.org"]})}
    )
    named = TestClient(create_app(configured, "0.0.0.0"), base_url="http://dash.example.org")
    assert named.get("/healthz").status_code in (200, 503)
    local = TestClient(app, base_url=LOCAL)
    for path in ("/", "/healthz", "/metrics", "/api/status", "/api/overview"):
        got, head = local.get(path), local.head(path)
        assert head.status_code == got.status_code and head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type")
    token = "s3cret-admin-token-of-the-operator"
    secret = SecretStr(token)
    guarded = demo.settings.model_copy(
        update={"web": demo.settings.web.model_copy(update={"admin_token": secret})}
    )
    admin = TestClient(create_app(guarded), base_url=LOCAL)
    with caplog.at_level(logging.WARNING):
        wrong = admin.post("/api/gates/r1/release", headers={"authorization": "Bearer guess"})
    assert wrong.status_code == 401
    refused = [r for r in caplog.records if r.getMessage() == "admin token refused"]
    assert refused and refused[0].given == "wrong"  # type: ignore[attr-defined]
    assert "guess" not in caplog.text and token not in caplog.text
