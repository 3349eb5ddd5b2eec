"""Where alerts go: a webhook (JSON, signed, retried) and the log.

A webhook delivery is a ``POST`` of the event as JSON with these headers:

* ``X-Shipyard-Event``: the event kind (``alert.fired``, ``alert.resolved``);
* ``X-Shipyard-Delivery``: a delivery id, the same on every retry (receivers drop duplicates by it);
* ``X-Shipyard-Signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` under the
  webhook's secret, when it has one. :func:`verify_signature` checks it (and the timestamp's age,
  against replays).

Connection errors, timeouts, 429 and 5xx answers are retried with exponential backoff (honouring
``Retry-After`` up to ``max_backoff_s``); other 4xx answers are final. A delivery that fails in the end
is logged as an error — it never fails the monitor's window, which is already recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.entities import Alert
from shipyard.exceptions import InvalidParameter

log = logging.getLogger("shipyard.alerts")

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one notification."""

    target: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``X-Shipyard-Signature`` header value for ``body``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(body: bytes, header: str, secret: str, *, tolerance_s: float = 300.0,
                     now: float | None = None) -> bool:
    """Whether ``header`` (``X-Shipyard-Signature``) signs ``body`` under ``secret`` and is at most
    ``tolerance_s`` old. Use it in the receiver, on the raw request body."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = sign(body, secret, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook target. ``secret_env`` names an environment variable holding the signing secret (so
    the secret is not stored in the monitor's record); ``secret`` gives it directly."""

    url: str
    secret_env: str | None = None
    secret: str | None = None
    retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise InvalidParameter(f"A webhook URL must start with http:// or https://, got {self.url!r}.")
        if self.retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise InvalidParameter("A webhook needs retries >= 0, backoff_s >= 0 and timeout_s > 0.")

    @classmethod
    def coerce(cls, value: Webhook | str | Mapping[str, Any]) -> Webhook:
        if isinstance(value, Webhook):
            return value
        if isinstance(value, str):
            return cls(url=value)
        try:
            return cls(**{k: v for k, v in value.items() if k != "type"})
        except TypeError as exc:
            raise InvalidParameter(f"Not a webhook: {value!r} ({exc}). Give url=, and optionally secret_env=, "
                                   "retries=, backoff_s=, timeout_s=.") from exc

    def to_dict(self) -> dict[str, Any]:
        """For the monitor's record: never the secret itself, only where to find it."""
        out: dict[str, Any] = {"type": "webhook", "url": self.url, "retries": self.retries, "backoff_s": self.backoff_s,
                               "max_backoff_s": self.max_backoff_s, "timeout_s": self.timeout_s}
        if self.secret_env:
            out["secret_env"] = self.secret_env
        return out

    def _secret(self) -> str | None:
        if self.secret is not None:
            return self.secret
        if self.secret_env:
            from shipyard.config import environment_snapshot

            value = environment_snapshot((self.secret_env,)).get(self.secret_env)
            if value is None:
                log.error("Webhook %s: the secret variable %s is not set; sending unsigned.", self.url, self.secret_env)
            return value
        return None

    def send(self, kind: str, payload: Mapping[str, Any], *, sleep: Callable[[float], None] = time.sleep) -> Delivery:
        body = json.dumps({"type": kind, **payload}, sort_keys=True, default=str).encode()
        delivery_id = uuid.uuid4().hex
        secret = self._secret()
        attempts, status, error = 0, None, None
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            headers = {"content-type": "application/json", "user-agent": "shipyard-alerts",
                       "x-shipyard-event": kind, "x-shipyard-delivery": delivery_id}
            if secret:
                headers["x-shipyard-signature"] = sign(body, secret)
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            wait = self.backoff_s * 2 ** attempt
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - http(s) only
                    return Delivery(self.url, True, attempts, response.status)
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
                if exc.code not in RETRYABLE:
                    break
                retry_after = exc.headers.get("retry-after") if exc.headers else None
                if retry_after and retry_after.isdigit():
                    wait = float(retry_after)
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                status, error = None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < self.retries:
                sleep(min(wait, self.max_backoff_s))
        log.error("Webhook %s: %s not delivered after %d attempt(s) (%s).", self.url, kind, attempts, error)
        return Delivery(self.url, False, attempts, status, error)


def alert_payload(project: str, alert: Alert, *, deployment: str | None = None) -> dict[str, Any]:
    from shipyard.monitoring._alerts import alert_dict

    body = alert_dict(alert)
    del body["monitor"]
    return {"project": project, "monitor": alert.monitor, "deployment": deployment, "alert": body}


def notify(project: str, alerts: list[Alert], targets: list[Webhook], *, deployment: str | None = None) -> list[Delivery]:
    """Send each newly fired or resolved alert to the log and every webhook; ongoing ones are quiet."""
    deliveries: list[Delivery] = []
    for alert in alerts:
        if alert.change == "ongoing":
            continue
        kind = f"alert.{alert.change}"
        level = logging.INFO if alert.change == "resolved" else (logging.ERROR if alert.severity == "critical"
                                                                 else logging.WARNING)
        log.log(level, "[%s] %s %s/%s: %s", alert.severity, kind, project, alert.monitor, alert.message)
        payload = alert_payload(project, alert, deployment=deployment)
        deliveries += [target.send(kind, payload) for target in targets]
    return deliveries
