"""One backoff for every retry: exponential, capped, and jittered within known bounds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain.retry import Backoff, backoff_delay, is_temporary, next_attempt

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def test_without_jitter_the_steps_double_from_the_first_up_to_the_cap() -> None:
    assert [backoff_delay(n, 30, 1800) for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1800,
        1800,
    ]


def test_a_first_try_counts_as_attempt_one_and_never_goes_below_the_first_step() -> None:
    assert backoff_delay(0, 30, 1800) == backoff_delay(1, 30, 1800) == 30


@pytest.mark.parametrize("attempt", [1, 2, 5, 12, 200])
def test_jitter_keeps_every_delay_between_half_the_step_and_the_step(attempt: int) -> None:
    rng = random.Random(7)
    step = min(1800.0, 30 * 2.0 ** (attempt - 1))
    delays = [backoff_delay(attempt, 30, 1800, rng.random()) for _ in range(500)]
    assert all(step / 2 <= d <= step for d in delays)
    # and it does spread them: not all the same, both halves of the range used
    assert min(delays) < step * 0.6 and max(delays) > step * 0.9


def test_the_draw_places_the_delay_at_the_ends_of_its_range() -> None:
    assert backoff_delay(3, 30, 1800, 0.0) == 60
    assert backoff_delay(3, 30, 1800, 1.0) == 120


@pytest.mark.parametrize("draw", [-0.1, 1.5])
def test_a_draw_outside_zero_to_one_is_refused(draw: float) -> None:
    with pytest.raises(ValueError, match="draw"):
        backoff_delay(1, 30, 1800, draw)


def test_a_huge_attempt_count_stays_at_the_cap() -> None:
    assert backoff_delay(10_000, 30, 1800) == 1800


def test_next_attempt_adds_the_delay_to_now() -> None:
    assert next_attempt(2, NOW, 30, 1800) == NOW + timedelta(seconds=60)
    assert next_attempt(2, NOW, 30, 1800, 0.0) == NOW + timedelta(seconds=30)


def test_a_loops_backoff_grows_jittered_to_its_cap_and_resets() -> None:
    backoff = Backoff(8.0, random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    steps = [1, 2, 4, 8, 8, 8]
    assert all(s / 2 <= d <= s for d, s in zip(delays, steps, strict=True))
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1


def test_a_seeded_backoff_is_reproducible() -> None:
    one, two = Backoff(60, random.Random(3)), Backoff(60, random.Random(3))
    assert [one.next() for _ in range(5)] == [two.next() for _ in range(5)]


def test_the_cap_binds_whatever_the_first_step() -> None:
    assert 0.5 <= Backoff(1.0, random.Random(0)).next() <= 1.0
    assert backoff_delay(4, 0.2, 1.0) == 1.0


def test_4xx_and_no_code_are_temporary_5xx_is_permanent() -> None:
    assert is_temporary(None) and is_temporary(421) and is_temporary(451)
    assert not is_temporary(550) and not is_temporary(250)
