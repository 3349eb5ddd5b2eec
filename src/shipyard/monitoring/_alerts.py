"""Alert rules: when a monitor's numbers over its windows should raise an alert.

Three kinds, all over the flat metric names a window records (``drift.share``,
``performance.accuracy``, ``quality.null_rate``, ``rows`` …):

* **threshold** — ``"performance.accuracy < 0.7"``: the metric compared with a value;
* **N consecutive windows** — ``"drift.share >= 0.3 for 3"``: a threshold that must hold in the last
  3 windows in a row (one bad window is not an incident);
* **rate of change** — ``"change(performance.accuracy) < -0.05"``: the metric minus its value ``over``
  windows earlier (``"change(rows, 4) < -0.5 relative"`` compares relatively: -0.5 is a halving).

A window where the metric is missing (no labels yet, an empty window) neither fires a rule nor
counts towards ``for``. Firing is decided here; de-duplication and resolution are the store's
(:meth:`~shipyard.storage.base.MonitorStore.record_window`): one open alert per monitor and rule.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shipyard.entities import Alert, AlertSignal, MonitorResult
from shipyard.exceptions import InvalidParameter

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
SEVERITIES = ("info", "warning", "critical")
_RULE = re.compile(
    r"^\s*(?:(?P<change>change)\(\s*(?P<cmetric>[\w.\-]+)\s*(?:,\s*(?P<over>\d+)\s*)?\)|(?P<metric>[\w.\-]+))"
    r"\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?P<relative>\s+relative)?(?:\s+for\s+(?P<for>\d+))?\s*$"
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule (see the module docstring). ``name`` defaults to the expression."""

    metric: str
    op: str
    value: float
    kind: str = "threshold"  # or "change"
    for_windows: int = 1
    over: int = 1
    relative: bool = False
    severity: str = "warning"
    name: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise InvalidParameter(f"Rule {self.expression!r}: the comparison must be one of {sorted(OPS)}.")
        if self.kind not in ("threshold", "change"):
            raise InvalidParameter(f"Rule kind must be 'threshold' or 'change', got {self.kind!r}.")
        if self.severity not in SEVERITIES:
            raise InvalidParameter(f"Rule {self.expression!r}: severity must be one of {SEVERITIES}, got {self.severity!r}.")
        if self.for_windows < 1 or self.over < 1:
            raise InvalidParameter(f"Rule {self.expression!r}: 'for' and 'over' count windows and must be at least 1.")
        if not self.name:
            object.__setattr__(self, "name", self.expression)

    @property
    def expression(self) -> str:
        target = self.metric if self.kind == "threshold" else f"change({self.metric}{f', {self.over}' if self.over > 1 else ''})"
        text = f"{target} {self.op} {self.value:g}{' relative' if self.relative else ''}"
        return f"{text} for {self.for_windows}" if self.for_windows > 1 else text

    @classmethod
    def parse(cls, text: str, *, severity: str = "warning", name: str = "") -> Rule:
        """``"drift.share >= 0.3 for 3"``, ``"performance.accuracy < 0.7"``, ``"change(rows, 4) < -0.5 relative"``."""
        match = _RULE.match(text)
        if match is None:
            raise InvalidParameter(
                f"Cannot read the alert rule {text!r}. Write '<metric> <op> <value> [for N]' such as "
                "'performance.accuracy < 0.7 for 2', or 'change(<metric>[, over]) <op> <value> [relative]' such as "
                "'change(performance.accuracy) < -0.05'; <op> is one of > >= < <= == !=."
            )
        change = match["change"] is not None
        return cls(metric=match["cmetric"] if change else match["metric"], op=match["op"], value=float(match["value"]),
                   kind="change" if change else "threshold", for_windows=int(match["for"] or 1),
                   over=int(match["over"] or 1), relative=bool(match["relative"]), severity=severity, name=name)

    @classmethod
    def coerce(cls, value: Rule | str | Mapping[str, Any]) -> Rule:
        if isinstance(value, Rule):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            data = dict(value)
            if "expression" in data:
                expression = data.pop("expression")
                return cls.parse(expression, severity=data.pop("severity", "warning"), name=data.pop("name", ""))
            try:
                return cls(**data)
            except TypeError as exc:
                raise InvalidParameter(f"Not an alert rule: {value!r} ({exc}).") from exc
        raise InvalidParameter(f"An alert rule is a string such as 'drift.share > 0.3' or a Rule, got {value!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def evaluate(self, history: Sequence[Mapping[str, float | None]]) -> AlertSignal | None:
        """The signal this rule raises on the last window of ``history`` (metrics per window, oldest
        first, the window being evaluated last), or None."""
        compare = OPS[self.op]
        values = [_number(m.get(self.metric)) for m in history]
        if self.kind == "change":
            if len(values) <= self.over:
                return None
            now, before = values[-1], values[-1 - self.over]
            if now is None or before is None:
                return None
            delta = now - before
            if self.relative:
                if before == 0:
                    return None
                delta /= abs(before)
            if not compare(delta, self.value):
                return None
            return AlertSignal(self.name, self.severity,
                               f"{self.metric} changed by {delta:+.4g}{' (relative)' if self.relative else ''} over "
                               f"{self.over} window(s): {before:.4g} → {now:.4g} ({self.expression})", delta)
        recent = values[-self.for_windows:]
        if len(recent) < self.for_windows or any(v is None or not compare(v, self.value) for v in recent):
            return None
        now_value = recent[-1]
        assert now_value is not None
        streak = f" for {self.for_windows} windows" if self.for_windows > 1 else ""
        return AlertSignal(self.name, self.severity, f"{self.metric} = {now_value:.4g}{streak} ({self.expression})",
                           now_value)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def evaluate(rules: Sequence[Rule], previous: Sequence[MonitorResult], current: Mapping[str, float | None]) -> list[AlertSignal]:
    """The signals of every rule that fires on ``current``, given the earlier windows (oldest first)."""
    history = [r.metrics for r in previous] + [current]
    return [signal for rule in rules if (signal := rule.evaluate(history)) is not None]


def lookback(rules: Sequence[Rule]) -> int:
    """How many earlier windows the rules need to see."""
    return max([max(r.for_windows - 1, r.over if r.kind == "change" else 0) for r in rules] or [0])


def alert_dict(alert: Alert) -> dict[str, Any]:
    """An alert as JSON-ready data (reports, the CLI, webhook payloads)."""
    return {"id": alert.id, "monitor": alert.monitor, "rule": alert.rule, "state": alert.state.value,
            "severity": alert.severity, "message": alert.message, "value": alert.value, "windows": alert.windows,
            "opened_at": alert.opened_at, "resolved_at": alert.resolved_at}
