"""Webhooks: signed bodies, retries, no secrets, and a failing receiver never raises."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from webhooks import Receiver

from dualorm.notify import SIGNATURE_HEADER, Notifier, verify


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_event_is_signed_and_verifiable(receiver: Receiver) -> None:
    notifier = Notifier(receiver.url, secret="s3", base={"environment": "production"})
    delivery = notifier.send("started", correlation_id="abc", migrations=["0001"])
    assert delivery.delivered
    headers, body = receiver.requests[0]
    assert verify("s3", body, headers[SIGNATURE_HEADER])
    assert not verify("other", body, headers[SIGNATURE_HEADER])
    document = json.loads(body)
    assert document["event"] == "started"
    assert document["environment"] == "production"
    assert document["migrations"] == ["0001"]


def test_passwords_in_urls_never_leave(receiver: Receiver) -> None:
    Notifier(receiver.url, secret="k").send(
        "failed", database="postgresql://app:hunter2@db/auth", error="at postgres://u:pw@h/x"
    )
    _, body = receiver.requests[0]
    assert b"hunter2" not in body and b":pw@" not in body
    assert b"app:***@db/auth" in body


def test_server_errors_are_retried_then_delivered() -> None:
    flaky = Receiver(fail_first=2)
    try:
        delivery = Notifier(flaky.url, retries=3, backoff=0.01).send("succeeded")
    finally:
        flaky.close()
    assert delivery.delivered and delivery.attempts == 3


def test_unreachable_receiver_never_raises() -> None:
    delivery = Notifier("http://127.0.0.1:9/hook", retries=1, backoff=0.01, timeout=0.5).send(
        "failed"
    )
    assert not delivery.delivered
    assert delivery.attempts == 2 and delivery.error


def test_client_error_is_not_retried() -> None:
    refusing = Receiver(fail_first=10, status=400)
    try:
        delivery = Notifier(refusing.url, retries=3, backoff=0.01).send("plan")
    finally:
        refusing.close()
    assert not delivery.delivered and delivery.attempts == 1 and delivery.status == 400


def test_unknown_event_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown webhook event"):
        Notifier(None).send("exploded")
