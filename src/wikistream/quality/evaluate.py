"""Evaluate a gate's checks on one batch with Daft expressions.

Row-level checks yield a failure flag per row; aggregate checks one value per batch. The
batch is the data being promoted (in memory), never a whole table re-read.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import daft
import pyarrow as pa
import pyarrow.compute as pc
from daft import DataType, Expression, col, lit

from wikistream.engine import frame
from wikistream.quality.checks import Check

History = Callable[[Check], Sequence[float]]

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one batch."""

    check: Check
    verdict: str
    metric_value: float | None
    threshold: str
    rows_checked: int
    rows_failed: int
    detail: str = ""
    duration_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL


@dataclass
class GateOutcome:
    """Every check's result, and which rows failed which row-level checks."""

    results: list[CheckResult]
    row_failures: dict[str, pa.Array] = field(default_factory=dict)  # check -> bool per row

    @property
    def holds(self) -> bool:
        """Whether an `error` check failed: the batch must not be promoted."""
        return any(r.failed and r.check.level == "error" for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    def failed_rows(self) -> pa.Array:
        """True for every row that failed at least one row-level check."""
        flags = list(self.row_failures.values())
        if not flags:
            return pa.array([], pa.bool_())
        combined = flags[0]
        for flag in flags[1:]:
            combined = pc.or_(combined, flag)
        return combined

    def failed_checks(self, mask: pa.Array) -> pa.Array:
        """For the rows selected by `mask`: the names of the checks each one failed."""
        names = list(self.row_failures)
        selected = [pc.filter(self.row_failures[n], mask).to_pylist() for n in names]
        per_row = (
            [
                [n for n, flags in zip(names, row, strict=True) if flags]
                for row in zip(*selected, strict=True)
            ]
            if selected
            else []
        )
        return pa.array(per_row, pa.list_(pa.string()))


def evaluate(
    batch: pa.Table,
    checks: Sequence[Check],
    history: History,
    reference_rows: int | None = None,
) -> GateOutcome:
    """Run `checks` on `batch`.

    Args:
        batch: the rows being promoted.
        checks: the gate's checks (columns a batch lacks make that check fail, loudly).
        history: earlier metric values of a check, oldest first (volume and drift bands).
        reference_rows: for reconcile checks, how many input rows the batch summarises.
    """
    if batch.num_rows == 0:
        return GateOutcome([_result(c, SKIPPED, None, "", 0, 0, "empty batch") for c in checks])
    df = frame(batch.select(_referenced(checks, batch.schema.names) or batch.schema.names[:1]))
    results: dict[str, CheckResult] = {}
    usable = []
    for check in checks:
        problem = _missing_columns(check, batch.schema.names)
        if problem:
            results[check.name] = _result(check, FAIL, None, "", batch.num_rows, 0, problem)
        else:
            usable.append(check)
    rows = [c for c in usable if c.row_level]
    aggregates = [c for c in usable if not c.row_level]
    outcome = GateOutcome([])
    # One projection per check: Daft 0.7's optimizer panics on some projections that mix
    # `is_in` and other predicates on the same column; separate passes are cheap anyway.
    for check in rows:
        started = time.perf_counter()
        flags = df.select(_fails(check).alias("failed")).to_arrow()
        failed = pc.fill_null(flags.column("failed"), False).combine_chunks()
        outcome.row_failures[check.name] = failed
        ms = (time.perf_counter() - started) * 1000
        results[check.name] = _row_result(check, failed, batch.num_rows, ms)
    for check in aggregates:
        started = time.perf_counter()
        values = {k: v[0] for k, v in df.agg(*_aggregations(check)).to_pydict().items()}
        if check.type == "uniqueness":
            column = batch.column(check.column or "")
            values[f"{check.name}.n"] = len(column) - column.null_count
            if values[f"{check.name}.distinct"] != values[f"{check.name}.n"]:
                # duplicates (or a 64-bit hash collision): count exactly
                exact = col(check.column or "").count_distinct().alias(f"{check.name}.distinct")
                values.update({k: v[0] for k, v in df.agg(exact).to_pydict().items()})
        ms = (time.perf_counter() - started) * 1000
        results[check.name] = _aggregate_result(
            check, values, batch.num_rows, history, reference_rows, ms
        )
    outcome.results = [results[c.name] for c in checks]
    return outcome


def _referenced(checks: Sequence[Check], present: Sequence[str]) -> list[str]:
    """The batch columns the checks use: handing Daft only these saves most of the copy."""
    words: set[str] = set()
    for check in checks:
        words.update(filter(None, (check.column, "source" if check.exempt_sources else None)))
        for text in (check.where, check.expr):
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text or ""))
    return [name for name in present if name in words]


def _missing_columns(check: Check, present: Sequence[str]) -> str:
    wanted = [check.column] if check.column else []
    if check.type == "timeliness" and check.exempt_sources:
        wanted.append("source")
    missing = [c for c in wanted if c not in present]
    return f"batch has no column {', '.join(missing)}" if missing else ""


def _where(check: Check) -> Expression:
    return daft.sql_expr(check.where) if check.where else lit(True)


def _fails(check: Check) -> Expression:
    """True where a row fails the check (rows outside `where`, and unknowns, pass)."""
    good = _good(check).fill_null(True)
    return _where(check).fill_null(False) & ~good


def _good(check: Check) -> Expression:
    if check.type == "consistency":
        assert check.expr is not None  # noqa: S101 - validated with the check
        return daft.sql_expr(check.expr)
    if check.type == "timeliness":
        age = col(check.column or "processing_lag_s")
        fresh = age <= lit(check.max_age_s)
        if check.exempt_sources:
            fresh = fresh | col("source").regexp(check.exempt_sources).fill_null(False)
        return fresh
    value = col(check.column or "")
    conditions: list[Expression] = []  # validity: nulls are completeness's business
    if check.allowed is not None:
        conditions.append(value.is_in(check.allowed))
    if check.min is not None:
        conditions.append(value >= lit(check.min))
    if check.max is not None:
        conditions.append(value <= lit(check.max))
    if check.regex:
        conditions.append(value.regexp(check.regex))
    good = conditions[0]
    for condition in conditions[1:]:
        good = good & condition
    return value.is_null() | good


def _row_result(check: Check, failed: pa.Array, rows: int, ms: float) -> CheckResult:
    """Failing rows are quarantined by the caller; the batch fails only when their share is
    above `max_failed_ratio` and they are at least `min_failed_rows` (one odd row never
    holds a batch)."""
    failures = pc.sum(failed).as_py() or 0
    ratio = failures / rows
    too_many = ratio > check.max_failed_ratio and failures >= check.min_failed_rows
    threshold = f"failed share <= {check.max_failed_ratio:g} (or < {check.min_failed_rows} rows)"
    return _result(
        check, FAIL if too_many else PASS, ratio, threshold, rows, failures, duration_ms=ms
    )


def _aggregations(check: Check) -> list[Expression]:
    key = check.name
    value = col(check.column or "")
    int64 = DataType.int64()
    if check.type == "completeness":
        where = _where(check).fill_null(False)
        return [
            (where & value.not_null()).cast(int64).sum().alias(f"{key}.present"),
            where.cast(int64).sum().alias(f"{key}.scope"),
        ]
    if check.type == "uniqueness":  # distinct 64-bit hashes: 4x faster than distinct strings
        return [value.hash().count_distinct().alias(f"{key}.distinct")]
    if check.type == "volume":
        ts = col(check.column or "event_ts")
        return [ts.min().alias(f"{key}.first"), ts.max().alias(f"{key}.last")]
    if check.type == "drift":
        metric = value.is_null() if check.stat == "null_rate" else value
        return [metric.cast(DataType.float64()).mean().alias(f"{key}.value")]
    # reconcile: only the rows in scope count (e.g. the global rows of 10-minute metrics)
    in_scope = _where(check).fill_null(False).cast(int64)
    return [(value.cast(int64) * in_scope).sum().alias(f"{key}.sum")]


def _aggregate_result(
    check: Check,
    values: dict[str, object],
    rows: int,
    history: History,
    reference_rows: int | None,
    ms: float,
) -> CheckResult:
    key = check.name

    def number(suffix: str) -> float:
        value = values[f"{key}.{suffix}"]
        return float(value) if isinstance(value, int | float) else 0.0

    if check.type == "completeness":
        scope = number("scope")
        ratio = number("present") / scope if scope else 1.0
        min_ratio = check.min_ratio or 0.0
        missing = int(scope - number("present"))
        if scope < check.min_rows:  # a share of a few rows says nothing: one row could tip it
            detail = f"{scope:.0f} rows in scope < min_rows {check.min_rows}"
            return _result(check, SKIPPED, ratio, "", rows, missing, detail, ms)
        verdict = PASS if ratio >= min_ratio else FAIL
        return _result(
            check, verdict, ratio, f"non-null share >= {min_ratio:g}", rows, missing, duration_ms=ms
        )
    if check.type == "uniqueness":
        n = number("n")
        duplicates = int(n - number("distinct"))
        share = check.max_duplicate_ratio
        allowed = share * n if share is not None else 0.0
        verdict = PASS if duplicates <= allowed else FAIL
        threshold = f"duplicates <= {share:g} of rows" if share is not None else "duplicates == 0"
        return _result(
            check, verdict, float(duplicates), threshold, rows, duplicates, duration_ms=ms
        )
    if check.type == "reconcile":
        total = number("sum")
        expected = float(reference_rows if reference_rows is not None else rows)
        verdict = PASS if total == expected else FAIL
        detail = (
            ""
            if verdict == PASS
            else f"sum({check.column}) = {total:.0f}, input rows = {expected:.0f}"
        )
        return _result(check, verdict, total, f"== {expected:.0f}", rows, 0, detail, ms)
    if rows < check.min_rows:
        return _result(
            check,
            SKIPPED,
            None,
            "",
            rows,
            0,
            f"batch of {rows} rows < min_rows {check.min_rows}",
            ms,
        )
    if check.type == "volume":
        first, last = values[f"{key}.first"], values[f"{key}.last"]
        minutes = (last - first).total_seconds() / 60 if first and last else 0.0  # type: ignore[operator]
        if minutes < 1:
            return _result(check, SKIPPED, None, "", rows, 0, "batch spans < 1 minute", ms)
        metric = rows / minutes
    else:
        metric = number("value")
    return _banded(check, metric, list(history(check)), rows, ms)


def _banded(check: Check, metric: float, past: list[float], rows: int, ms: float) -> CheckResult:
    """Pass when `metric` lies in the band learned from the check's own history."""
    past = past[-check.history :]
    if len(past) < check.min_history:
        return _result(
            check,
            SKIPPED,
            metric,
            "",
            rows,
            0,
            f"learning: {len(past)}/{check.min_history} earlier values",
            ms,
        )
    mean = statistics.fmean(past)
    spread = max(check.sigmas * statistics.pstdev(past), check.tolerance * abs(mean), 1e-9)
    low, high = mean - spread, mean + spread
    verdict = PASS if low <= metric <= high else FAIL
    threshold = f"in [{low:.4g}, {high:.4g}] (n={len(past)})"
    detail = "" if verdict == PASS else f"{metric:.4g} outside the usual {low:.4g}-{high:.4g}"
    return _result(check, verdict, metric, threshold, rows, 0, detail, ms)


def _result(
    check: Check,
    verdict: str,
    metric: float | None,
    threshold: str,
    rows_checked: int,
    rows_failed: int,
    detail: str = "",
    duration_ms: float = 0.0,
) -> CheckResult:
    if metric is not None and not math.isfinite(metric):
        metric = None
    return CheckResult(
        check, verdict, metric, threshold, rows_checked, rows_failed, detail, duration_ms
    )
