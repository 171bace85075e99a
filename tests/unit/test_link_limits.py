"""The rules behind links that cannot be turned against the agency: a lock stops codes
and not a signed-in session; only a pending code can be tried; the rate-limit buckets;
the per-minute tally; the trusted-proxy setting."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.config import ConfigError, for_tests
from hub.domain.requests import code_pending, link_state, session_state
from hub.services.tally import MinuteTally
from hub.web.ratelimit import Bucket

NOW = datetime(2026, 3, 12, 9, 0, 30, tzinfo=UTC)
LATER = NOW + timedelta(days=14)


def test_a_lock_stops_codes_but_not_a_signed_in_session() -> None:
    link = {"request_state": "opened", "expires_at": LATER, "revoked_at": None, "now": NOW}
    assert link_state(locked_at=NOW, **link) == "locked"
    assert session_state(**link) == "ok"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"revoked_at": NOW}, "unusable"),
        ({"expires_at": NOW}, "unusable"),
        ({"request_state": "withdrawn"}, "unusable"),
        ({"request_state": "answered"}, "answered"),
    ],
)
def test_a_session_still_ends_with_its_link_or_request(
    change: dict[str, object], expected: str
) -> None:
    link: dict[str, object] = {
        "request_state": "opened",
        "expires_at": LATER,
        "revoked_at": None,
        "now": NOW,
    }
    assert session_state(**{**link, **change}) == expected  # type: ignore[arg-type]


def test_only_a_pending_code_can_be_tried() -> None:
    soon = NOW + timedelta(minutes=10)
    assert code_pending(has_code=True, code_expires_at=soon, now=NOW)
    assert not code_pending(has_code=False, code_expires_at=soon, now=NOW)  # used
    assert not code_pending(has_code=False, code_expires_at=None, now=NOW)  # never sent
    assert not code_pending(has_code=True, code_expires_at=NOW, now=NOW)  # expired


def test_a_bucket_allows_a_minutes_worth_at_once_then_one_per_interval() -> None:
    bucket = Bucket(per_minute=6)
    assert [bucket.take("a", 0.0) for _ in range(6)] == [0.0] * 6
    assert bucket.take("a", 0.0) == pytest.approx(10.0)
    assert bucket.take("a", 4.0) == pytest.approx(6.0)  # refusals do not push it back
    assert bucket.take("b", 4.0) == 0.0  # keys are apart
    assert bucket.take("a", 10.0) == 0.0
    assert bucket.take("a", 10.0) == pytest.approx(10.0)
    # A minute of quiet and the whole allowance is back
    assert [bucket.take("a", 80.0) for _ in range(6)] == [0.0] * 6


def test_a_bucket_of_0_never_limits_and_keeps_nothing() -> None:
    bucket = Bucket(per_minute=0)
    assert all(bucket.take("a", 0.0) == 0.0 for _ in range(1000))
    assert not bucket._due


def test_a_bucket_remembers_a_bounded_number_of_keys() -> None:
    bucket = Bucket(per_minute=2, max_keys=100)
    for n in range(1000):
        bucket.take(f"token-{n}", float(n) / 1000)
    assert len(bucket._due) <= 100
    # The most recent keys are the ones kept
    assert bucket.take("token-999", 1.0) == 0.0
    assert bucket.take("token-999", 1.0) > 0.0


def test_the_tally_logs_each_minute_once_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.tally")
    tally = MinuteTally()
    for _ in range(3):
        tally.add("link.view.unusable", NOW)
    tally.add("web.limited.client", NOW)
    assert tally.flush(NOW + timedelta(seconds=10)) == {}  # the minute is not over
    tally.add("link.view.unusable", NOW + timedelta(minutes=1))  # rolls the minute over
    assert tally.flush(NOW + timedelta(minutes=3)) == {"link.view.unusable": 1}
    assert tally.flush() == {}
    assert [r.getMessage() for r in caplog.records] == [
        "event=web.minute minute=2026-03-12T09:00Z link.view.unusable=3 web.limited.client=1",
        "event=web.minute minute=2026-03-12T09:01Z link.view.unusable=1",
    ]


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Path) -> None:
    settings = for_tests(tmp_path, web={"trusted_proxies": ["127.0.0.1/32", "::1", "10.0.0.0/8"]})
    assert settings.web.trusted_proxies == ("127.0.0.1/32", "::1", "10.0.0.0/8")
    with pytest.raises(ConfigError, match=r"\[web\] trusted_proxies.*nginx"):
        for_tests(tmp_path, web={"trusted_proxies": ["nginx"]})
    with pytest.raises(ConfigError, match=r"rate_limit_per_client"):
        for_tests(tmp_path, web={"rate_limit_per_client": -1})
