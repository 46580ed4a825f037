"""queries/: every sample query runs on a generated warehouse, and its answer equals the same
question computed another way (plain Python over the rows PyIceberg reads)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.support.events import recent_events, run_cycle, write_bronze
from tests.support.warehouse import make_settings, read_table
from wikistream.cli.app import cli
from wikistream.lakehouse.store import Lakehouse

QUERIES = Path(__file__).resolve().parents[1] / "queries"
LIVE = "sse:https://stream.wikimedia.org/v2/stream/recentchange"
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo events, a backfill, a batch held by a gate, stale events after an "outage"."""
    folder = tmp_path_factory.mktemp("queries")
    config = folder / "wikistream.toml"
    config.write_text(f'warehouse = "{folder / "wh"}"\n[filters]\ndomains = ["*"]\n')
    runner = CliRunner()

    def cli_ok(*args: str) -> None:
        result = runner.invoke(cli, ["--config", str(config), *args])
        assert result.exit_code in (0, 4), result.stdout + result.stderr

    cli_ok("demo", "--events", "20000")
    dump = folder / "dump.jsonl"
    dump.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in recent_events(300)))
    cli_ok("backfill", "--source", f"file:{dump}")
    settings = make_settings(folder / "wh", init=False, filters={"domains": ["*"]})
    write_bronze(settings, recent_events(40, age_s=3 * 3600) + recent_events(60), LIVE)
    run_cycle(settings)  # 40 stale live events: quarantined by silver's freshness check
    held = recent_events(70) + [dict(e, user=None) for e in recent_events(30)]
    write_bronze(settings, held, LIVE)  # users missing from 30 %: the gate holds it
    run_cycle(settings)
    return config


def _answer(config: Path, name: str, *args: str) -> Rows:
    path = QUERIES / f"{name}.sql"
    result = CliRunner().invoke(
        cli, ["--config", str(config), "query", "--file", str(path), "--output", "json", *args]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    rows: Rows = json.loads(result.stdout)
    return rows


def _rows(config: Path, table: str) -> Rows:
    settings = make_settings(config.parent / "wh", init=False)
    rows: Rows = read_table(settings, table).to_pylist()
    return rows


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def busiest_wikis_now(config: Path, answer: Rows) -> None:
    silver = _rows(config, "silver.events")
    now = max(r["event_ts"] for r in silver)
    recent = [r for r in silver if r["event_ts"] > now - timedelta(hours=1)]
    by = defaultdict(list)
    for r in recent:
        by[r["domain"]].append(r)
    expected = sorted(
        (
            {
                "domain": d,
                "events": len(rs),
                "edits": sum(r["type"] == "edit" for r in rs),
                "editors": len({r["user"] for r in rs if r["user"] is not None}),
            }
            for d, rs in by.items()
        ),
        key=lambda x: (-x["events"], x["domain"]),
    )[:20]
    assert answer == expected


def bot_share_per_hour(config: Path, answer: Rows) -> None:
    by = defaultdict(list)
    for r in _rows(config, "silver.events"):
        by[_hour(r["event_ts"])].append(r["is_bot"])
    expected = [
        {"hour": _iso(h), "events": len(v), "bot_share": round(sum(v) / len(v), 4)}
        for h, v in sorted(by.items())
    ]
    assert answer == expected


def riskiest_editors(config: Path, answer: Rows) -> None:
    best: dict[str, dict[str, Any]] = {}
    for r in _rows(config, "gold.risk_scores"):
        key = (r["risk_score"], r["window_start"])
        if r["user"] not in best or key > (
            best[r["user"]]["risk_score"],
            best[r["user"]]["window_start"],
        ):
            best[r["user"]] = r
    top = sorted(best.values(), key=lambda r: (-r["risk_score"], r["user"]))[:20]
    assert [(a["user"], a["risk_score"], a["reasons"]) for a in answer] == [
        (r["user"], r["risk_score"], r["reasons"]) for r in top
    ]


def revert_rate_per_wiki(config: Path, answer: Rows) -> None:
    edits, reverts = Counter(), Counter()
    for r in _rows(config, "silver.events"):
        edits[r["domain"]] += r["type"] == "edit"
        reverts[r["domain"]] += r["is_revert"]
    expected = sorted(
        (
            {
                "domain": d,
                "edits": e,
                "reverts": reverts[d],
                "revert_rate": round(reverts[d] / e, 4),
            }
            for d, e in edits.items()
            if e
        ),
        key=lambda x: (-x["revert_rate"], x["domain"]),
    )
    assert answer == expected


def large_deletions_by_anonymous(config: Path, answer: Rows) -> None:
    rows = [
        r for r in _rows(config, "silver.events") if r["is_large_deletion"] and r["is_anonymous"]
    ]
    rows.sort(key=lambda r: (r["event_ts"], r["event_id"]))
    rows = sorted(rows, key=lambda r: r["event_ts"], reverse=True)[:100]
    assert answer and {(a["title"], a["user"], a["length_delta"]) for a in answer} == {
        (r["title"], r["user"], r["length_delta"]) for r in rows
    }


def new_pages_per_namespace(config: Path, answer: Rows) -> None:
    counts = Counter(
        (r["domain"], r["namespace"]) for r in _rows(config, "silver.events") if r["type"] == "new"
    )
    expected = sorted(
        ({"domain": d, "namespace": n, "new_pages": c} for (d, n), c in counts.items()),
        key=lambda x: (-x["new_pages"], x["domain"], x["namespace"]),
    )
    assert answer == expected


def quarantine_reasons_over_time(config: Path, answer: Rows) -> None:
    counts = Counter(
        (_hour(r["ingested_at"]), r["reason"]) for r in _rows(config, "bronze.quarantine")
    )
    expected = sorted(
        ({"hour": _iso(h), "reason": why, "records": n} for (h, why), n in counts.items()),
        key=lambda x: (x["hour"], -x["records"], x["reason"]),
    )
    assert answer == expected


def gate_failures_per_check(config: Path, answer: Rows) -> None:
    failed = [r for r in _rows(config, "dq.results") if r["verdict"] == "fail"]
    counts = Counter((r["layer"], r["table_name"], r["check_name"], r["level"]) for r in failed)
    assert answer and {
        (a["layer"], a["table_name"], a["check_name"], a["level"], a["failures"]) for a in answer
    } == {(*k, n) for k, n in counts.items()}
    assert any(a["check_name"] == "user_complete" and a["held"] >= 1 for a in answer)


def freshness_per_layer(config: Path, answer: Rows) -> None:
    now = datetime.now(UTC)
    newest = {
        "bronze.events": max(r["event_ts"] for r in _rows(config, "bronze.events")),
        "silver.events": max(r["event_ts"] for r in _rows(config, "silver.events")),
        "gold.hourly_stats": max(r["event_hour"] for r in _rows(config, "gold.hourly_stats"))
        + timedelta(hours=1),
    }
    assert [a["table"] for a in answer] == sorted(newest)
    for a in answer:
        assert a["newest_event"] == _iso(newest[a["table"]])
        assert abs(a["behind_s"] - (now - newest[a["table"]]).total_seconds()) < 120


def table_as_it_was(config: Path, answer: Rows) -> None:
    lakehouse = Lakehouse.reader(make_settings(config.parent / "wh", init=False))
    silver = lakehouse.table("silver.events")
    first = silver.history()[0].snapshot_id  # the first silver commit: the demo's rows only
    then = silver.scan(snapshot_id=first).to_arrow().to_pylist()
    assert len(then) < len(_rows(config, "silver.events"))
    as_of = _answer(config, "table_as_it_was", "--as-of", str(first))
    counts = Counter(r["domain"] for r in then)
    assert [(a["domain"], a["events"]) for a in as_of] == sorted(
        counts.items(), key=lambda x: (-x[1], x[0])
    )
    assert sum(a["events"] for a in answer) == len(_rows(config, "silver.events"))


def editor_mix_per_wiki(config: Path, answer: Rows) -> None:
    by: dict[str, Counter[str]] = defaultdict(Counter)
    for r in _rows(config, "silver.events"):
        by[r["domain"]][r["user_kind"] or "hidden"] += 1
    expected = sorted(
        (
            {
                "domain": d,
                "registered": c["registered"],
                "bot": c["bot"],
                "ip": c["ip"],
                "temporary": c["temporary"],
                "events": sum(c.values()),
            }
            for d, c in by.items()
        ),
        key=lambda x: (-x["events"], x["domain"]),
    )
    assert answer == expected


def top_editors_latest_day(config: Path, answer: Rows) -> None:
    silver = _rows(config, "silver.events")
    day = max(r["event_date"] for r in silver)
    events, wikis = Counter(), defaultdict(set)
    kinds = {}
    for r in silver:
        if r["event_date"] == day and r["user"] is not None:
            events[(r["user"], r["user_kind"])] += 1
            wikis[(r["user"], r["user_kind"])].add(r["domain"])
            kinds[r["user"]] = r["user_kind"]
    expected = sorted(
        (
            {"user": u, "user_kind": k, "events": n, "wikis": len(wikis[(u, k)])}
            for (u, k), n in events.items()
        ),
        key=lambda x: (-x["events"], x["user"]),
    )[:20]
    assert answer == expected


def activity_per_10_minutes(config: Path, answer: Rows) -> None:
    silver = _rows(config, "silver.events")
    windows = Counter(
        r["event_ts"].replace(minute=r["event_ts"].minute // 10 * 10, second=0, microsecond=0)
        for r in silver
    )
    assert [(a["window_start"], a["events"]) for a in answer] == [
        (_iso(w), n) for w, n in sorted(windows.items())
    ]


def biggest_additions(config: Path, answer: Rows) -> None:
    rows = sorted(
        (
            r
            for r in _rows(config, "silver.events")
            if r["length_delta"] is not None and r["length_delta"] > 0
        ),
        key=lambda r: (-r["length_delta"], r["event_id"]),
    )[:20]
    assert [(a["title"], a["length_delta"]) for a in answer] == [
        (r["title"], r["length_delta"]) for r in rows
    ]


def daily_health(config: Path, answer: Rows) -> None:
    silver = _rows(config, "silver.events")
    per_day = Counter(r["event_date"] for r in silver)
    assert [(a["event_date"], a["events"]) for a in answer] == [
        (_iso(d), n) for d, n in sorted(per_day.items())
    ]
    assert all(0 <= a["health_score"] <= 100 for a in answer)


def editors_across_wikis(config: Path, answer: Rows) -> None:
    wikis, events = defaultdict(set), Counter()
    for r in _rows(config, "silver.events"):
        if r["user"] is not None:
            wikis[r["user"]].add(r["domain"])
            events[r["user"]] += 1
    expected = sorted(
        (
            {"user": u, "wikis": len(w), "events": events[u], "domains": sorted(w)}
            for u, w in wikis.items()
            if len(w) >= 2
        ),
        key=lambda x: (-x["wikis"], -x["events"], x["user"]),
    )[:50]
    assert answer == expected


def most_reverted_editors(config: Path, answer: Rows) -> None:
    counts, methods = Counter(), defaultdict(set)
    for r in _rows(config, "silver.events"):
        if r["is_revert"] and r["reverted_user"] is not None:
            counts[r["reverted_user"]] += 1
            methods[r["reverted_user"]].add(r["revert_method"])
    expected = sorted(
        (
            {"reverted_user": u, "reverted": n, "methods": sorted(methods[u])}
            for u, n in counts.items()
        ),
        key=lambda x: (-x["reverted"], x["reverted_user"]),
    )[:20]
    assert answer == expected


def held_batches(config: Path, answer: Rows) -> None:
    held = [r for r in _rows(config, "dq.results") if r["gate"] == "held"]
    runs = {r["run_id"] for r in held}
    assert {a["run_id"] for a in answer} == runs and runs
    for a in answer:
        failed = sorted(
            r["check_name"] for r in held if r["run_id"] == a["run_id"] and r["verdict"] == "fail"
        )
        assert a["failed_checks"] == failed


def log_actions(config: Path, answer: Rows) -> None:
    logs = [r for r in _rows(config, "bronze.events") if r["type"] == "log"]
    counts = Counter((r["log_type"], r["log_action"]) for r in logs)
    expected = sorted(counts.items(), key=lambda x: (-x[1], x[0][0] or "", x[0][1] or ""))
    assert [((a["log_type"], a["log_action"]), a["events"]) for a in answer] == expected
    targets = {
        json.loads(r["log_params"]).get("target")
        for r in logs
        if r["log_params"] and isinstance(json.loads(r["log_params"]), dict)
    }
    assert any(a["a_target"] in targets for a in answer)


def events_per_region(config: Path, answer: Rows) -> None:
    counts = Counter(r["region"] for r in _rows(config, "silver.events"))
    total = sum(counts.values())
    expected = sorted(
        ({"region": g, "events": n, "share": round(n / total, 4)} for g, n in counts.items()),
        key=lambda x: (-x["events"], x["region"]),
    )
    assert answer == expected


def backfill_runs(config: Path, answer: Rows) -> None:
    runs = _rows(config, "ops.runs")
    assert [(a["run_id"], a["state"], a["rows_written"]) for a in answer] == [
        (r["run_id"], r["state"], r["rows_written"]) for r in runs
    ]
    assert answer[0]["state"] == "completed" and answer[0]["rows_written"] > 0


def dead_letters_by_source(config: Path, answer: Rows) -> None:
    counts, largest = Counter(), {}
    for r in _rows(config, "bronze.quarantine"):
        key = (r["source"], r["reason"])
        counts[key] += 1
        largest[key] = max(largest.get(key, 0), r["raw_size"])
    expected = sorted(
        (
            {"source": s, "reason": why, "records": n, "largest_bytes": largest[(s, why)]}
            for (s, why), n in counts.items()
        ),
        key=lambda x: (-x["records"], x["source"], x["reason"]),
    )
    assert answer == expected


def stale_events_in_quarantine(config: Path, answer: Rows) -> None:
    counts = Counter(c for r in _rows(config, "silver.quarantine") for c in r["failed_checks"])
    assert {(a["check_name"], a["rows"]) for a in answer} == set(counts.items())
    assert counts["event_not_stale"] == 40


CHECKS: dict[str, Callable[[Path, Rows], None]] = {
    f.__name__: f
    for f in (
        busiest_wikis_now, bot_share_per_hour, riskiest_editors, revert_rate_per_wiki,
        large_deletions_by_anonymous, new_pages_per_namespace, quarantine_reasons_over_time,
        gate_failures_per_check, freshness_per_layer, table_as_it_was, editor_mix_per_wiki,
        top_editors_latest_day, activity_per_10_minutes, biggest_additions, daily_health,
        editors_across_wikis, most_reverted_editors, held_batches, log_actions,
        events_per_region, backfill_runs, dead_letters_by_source, stale_events_in_quarantine,
    )
}  # fmt: skip


def test_every_sample_query_has_a_check_and_there_are_at_least_20() -> None:
    files = sorted(p.stem for p in QUERIES.glob("*.sql"))
    assert files == sorted(CHECKS) and len(files) >= 20
    readme = (QUERIES / "README.md").read_text(encoding="utf-8")
    assert all(f"{name}.sql" in readme for name in files)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_a_sample_query_answers_its_question(warehouse: Path, name: str) -> None:
    CHECKS[name](warehouse, _answer(warehouse, name))
