"""Quality checks as data: the checks file (TOML), one list of checks per layer.

Row-level checks (validity, consistency, timeliness) judge every row: at the silver gate the
failing rows go to `silver.quarantine`; the check fails the batch only when more than
`max_failed_ratio` of the rows fail and at least `min_failed_rows` of them, so one odd row
never holds its batch. Aggregate checks (completeness, uniqueness, volume, drift, reconcile)
pass or fail the batch; completeness judges only batches of at least `min_rows` rows. A
failed `error` check holds the batch back; a failed `warn` check is recorded and alerted,
and the batch goes on.

The shipped defaults are `quality/checks.toml`; `dq.checks_file` points to your own.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from wikistream.exceptions import ConfigError

LAYERS = ("bronze", "silver", "gold")
ROW_LEVEL = frozenset({"validity", "consistency", "timeliness"})
CheckType = Literal[
    "completeness", "validity", "consistency", "timeliness",
    "uniqueness", "volume", "drift", "reconcile",
]  # fmt: skip


class Check(BaseModel):
    """One check. Which fields matter depends on `type` (docs/quality.md lists them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: CheckType
    level: Literal["error", "warn"] = "error"
    table: str | None = Field(None, description="gold: the table checked; else the layer's.")
    column: str | None = None
    where: str | None = Field(None, description="SQL condition: only these rows are judged.")
    description: str = ""
    # completeness
    min_ratio: float | None = Field(None, ge=0, le=1)
    # uniqueness
    max_duplicate_ratio: float | None = Field(
        None, ge=0, le=1, description="uniqueness: the share of repeated values allowed."
    )
    # validity
    allowed: list[str | int] | None = None
    min: float | None = None
    max: float | None = None
    regex: str | None = None
    # consistency: a SQL condition true for good rows
    expr: str | None = None
    # timeliness
    max_age_s: float | None = Field(None, gt=0)
    exempt_sources: str | None = Field(
        None, description="Regex on the source name: replays and backfills are not late."
    )
    # row-level checks: failing rows are quarantined; the batch fails only when more than
    # `max_failed_ratio` of its rows fail and at least `min_failed_rows` do
    max_failed_ratio: float = Field(0.0, ge=0, le=1)
    min_failed_rows: int = Field(
        5, ge=1, description="Fewer failing rows never fail the batch (they are quarantined)."
    )
    # volume / drift: a band learned from this check's own history
    stat: Literal["mean", "null_rate"] = "mean"
    min_rows: int = Field(
        0, ge=0, description="completeness, volume, drift: smaller batches are skipped."
    )
    min_history: int = Field(10, ge=1)
    history: int = Field(50, ge=1)
    sigmas: float = Field(4.0, gt=0)
    tolerance: float = Field(0.25, ge=0, description="Relative slack around the learned mean.")

    @property
    def row_level(self) -> bool:
        return self.type in ROW_LEVEL

    @model_validator(mode="after")
    def _complete(self) -> Check:
        needs: dict[str, tuple[str, ...]] = {
            "completeness": ("column", "min_ratio"),
            "validity": ("column",),
            "consistency": ("expr",),
            "timeliness": ("max_age_s",),
            "uniqueness": ("column",),
            "drift": ("column",),
            "reconcile": ("column",),
        }
        missing = [f for f in needs.get(self.type, ()) if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} check needs {', '.join(missing)}")
        if self.type == "validity" and not (
            self.allowed is not None or self.min is not None or self.max is not None or self.regex
        ):
            raise ValueError("a validity check needs allowed, min, max or regex")
        return self


class CheckSet(BaseModel):
    """The checks of every layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bronze: list[Check] = Field(default_factory=list)
    silver: list[Check] = Field(default_factory=list)
    gold: list[Check] = Field(default_factory=list)

    def of(self, layer: str, table: str | None = None) -> list[Check]:
        checks: list[Check] = getattr(self, layer)
        if table is None:
            return checks
        return [c for c in checks if c.table in (None, table)]

    def columns(self, layer: str, names: Iterable[str]) -> set[str]:
        """Those of `names` that `layer`'s checks mention (as the column or anywhere in a
        SQL condition): what a batch read for the gate must include."""
        texts = [t for c in self.of(layer) for t in (c.column, c.expr, c.where) if t]
        return {n for n in names if any(re.search(rf"\b{re.escape(n)}\b", t) for t in texts)}

    @model_validator(mode="after")
    def _unique_names(self) -> CheckSet:
        for layer in LAYERS:
            names = [c.name for c in getattr(self, layer)]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {layer} check names: {duplicates}")
        return self


def default_checks_path() -> Path:
    return Path(str(files("wikistream.quality").joinpath("checks.toml")))


def load_checks(path: Path | None = None) -> CheckSet:
    """Read a checks file (the shipped defaults if None).

    Raises:
        ConfigError: the file is missing, not TOML, or a check is invalid.
    """
    path = path or default_checks_path()
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"checks file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"checks file {path} is not valid TOML: {exc}") from None
    try:
        return CheckSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"checks file {path}: {where}: {first['msg']}") from None
