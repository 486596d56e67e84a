"""Signed webhook notifications for migration events.

Each event is one JSON object POSTed to ``DUALORM_WEBHOOK_URL``. When
``DUALORM_WEBHOOK_SECRET`` is set, the header ``X-Dualorm-Signature: sha256=<hex>`` carries the
HMAC-SHA256 of the exact body bytes, so a receiver verifies with::

    hmac.compare_digest(header, "sha256=" + hmac.new(secret, body, "sha256").hexdigest())

Delivery has a timeout and bounded retries with backoff. A webhook that fails never fails a
migration: :meth:`Notifier.send` returns a :class:`Delivery` and never raises.

A migration never waits for a receiver: :meth:`Notifier.post` hands the event to one
background thread and returns at once, so no delivery is spent inside a downtime budget or
holds a lock; :meth:`Notifier.close` (called when the run is over) waits for what is still
queued at most ``budget`` seconds in all, then gives up on the rest and records them as not
delivered. A slow, failing or hanging receiver costs a run at most that bound.
Every string in a payload passes through :func:`scrub` so no URL password leaves the process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dualorm.db import redact_text

SIGNATURE_HEADER = "X-Dualorm-Signature"
EVENT_HEADER = "X-Dualorm-Event"
EVENTS = ("plan", "started", "migration_applied", "succeeded", "failed", "rolled_back")


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Return whether ``signature`` is the valid signature of ``body`` under ``secret``."""
    return hmac.compare_digest(sign(secret, body), signature)


def scrub(value: Any) -> Any:
    """Return ``value`` with every URL-like string's password redacted, recursively."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


@dataclass(frozen=True)
class Delivery:
    event: str
    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None


@dataclass
class Notifier:
    """POST signed JSON events to one URL; never raises on delivery failure."""

    url: str | None
    secret: str | None = None
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    base: Mapping[str, Any] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    budget: float = 10.0
    """Seconds :meth:`close` waits, in all, for events :meth:`post` queued."""
    _queue: queue.SimpleQueue[tuple[str, dict[str, Any]] | None] = field(
        default_factory=queue.SimpleQueue, init=False, repr=False
    )
    _worker: threading.Thread | None = field(default=None, init=False, repr=False)
    _posted: list[str] = field(default_factory=list, init=False, repr=False)

    def post(self, event: str, **payload: Any) -> None:
        """Queue ``event`` for the background sender and return at once (never raises)."""
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}; expected one of {EVENTS}")
        self._posted.append(event)
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._drain, name="dualorm-webhooks", daemon=True
            )
            self._worker.start()
        self._queue.put((event, dict(payload)))

    def close(self) -> list[Delivery]:
        """Wait at most ``budget`` seconds for the queued events; return every delivery.

        Events still queued or in flight when the budget is spent are recorded as not
        delivered; the daemon thread finishes or dies with the process, never holding it.
        """
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=max(0.0, self.budget))
            if self._worker.is_alive():
                sent = len(self.deliveries)
                for event in self._posted[sent:]:
                    self.deliveries.append(
                        Delivery(event, delivered=False, attempts=0, error="not sent in time")
                    )
            self._worker = None
        return list(self.deliveries)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, payload = item
            try:
                self.send(event, **payload)
            except Exception as exc:  # a receiver can never fail a run, nor kill the sender
                self.deliveries.append(
                    Delivery(event, delivered=False, attempts=0, error=redact_text(str(exc)))
                )

    def send(self, event: str, **payload: Any) -> Delivery:
        """Send ``event`` with ``payload`` merged over ``base``; return how it went."""
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}; expected one of {EVENTS}")
        if not self.url:
            delivery = Delivery(event, delivered=False, attempts=0, error="no webhook URL")
            self.deliveries.append(delivery)
            return delivery
        document = {
            "event": event,
            "sent_at": datetime.now(UTC).isoformat(),
            **scrub(dict(self.base)),
            **scrub(payload),
        }
        body = json.dumps(document, sort_keys=True, default=str).encode()
        headers = {"Content-Type": "application/json", EVENT_HEADER: event}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        delivery = self._post(event, body, headers)
        self.deliveries.append(delivery)
        return delivery

    def _post(self, event: str, body: bytes, headers: dict[str, str]) -> Delivery:
        assert self.url is not None
        error = None
        status = None
        attempts = 0
        for attempt in range(1, self.retries + 2):
            attempts = attempt
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    status = int(response.status)
                    return Delivery(event, delivered=True, attempts=attempt, status=status)
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                error = redact_text(str(getattr(exc, "reason", exc)))
            if attempt <= self.retries:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        return Delivery(event, delivered=False, attempts=attempts, status=status, error=error)
