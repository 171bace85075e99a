"""The default policy, written as the plain data ``config/policy.example.toml`` parses
to (a test holds the two equal key for key).

The milestones are the appendix case study's: plan agreed within 48 hours of the
referral, progress checked and risk re-reviewed within 2 weeks, every agency told within
24 hours of closure. Answer times follow section 5.3, step 7. Each table is spelt out
literally, as in the example file, so the two read side by side.
"""

from __future__ import annotations


def default_policy_data() -> dict[str, object]:
    """The default policy as the plain dict ``config/policy.example.toml`` parses to
    (a fresh copy each call: callers may change it)."""
    return {
        "calendar": {
            "nation": "england-and-wales",
            "timezone": "Europe/London",
            "agency_opens": "08:00",
            "agency_closes": "18:00",
            "extra_holidays": [],
        },
        "requests": _requests(),
        "milestones": _milestones(),
    }


def _requests() -> dict[str, object]:
    return {
        "standard": {
            "respond_within": "5wd",
            "chase": [
                {"name": "reminder", "offset": "-24h", "to": ["agency"]},
                {"name": "chase", "offset": "0h", "to": ["agency"]},
                {"name": "escalate-coordinator", "offset": "+24h", "to": ["coordinator"]},
                {"name": "escalate-team-leader", "offset": "+72h", "to": ["team-leader"]},
            ],
        },
        "urgent": {
            "respond_within": "24h",
            "chase": [
                {"name": "reminder", "offset": "-4h", "to": ["agency"]},
                {"name": "chase", "offset": "0h", "to": ["agency"]},
                {"name": "escalate-coordinator", "offset": "+4h", "to": ["coordinator"]},
                {"name": "escalate-team-leader", "offset": "+24h", "to": ["team-leader"]},
            ],
        },
    }


def _milestones() -> dict[str, object]:
    return {
        "plan-48h": {
            "due": "48h",
            "steps": [
                {"name": "warn-24h", "offset": "-24h", "to": ["coordinator"]},
                {"name": "warn-4h", "offset": "-4h", "to": ["coordinator"]},
                {"name": "due", "offset": "0h", "to": ["coordinator", "team-leader"]},
                {"name": "overdue-24h", "offset": "+24h", "to": ["team-leader"]},
            ],
        },
        "review-2w": {
            "due": "14d",
            "steps": [
                {"name": "warn-24h", "offset": "-24h", "to": ["coordinator"]},
                {"name": "warn-4h", "offset": "-4h", "to": ["coordinator"]},
                {"name": "due", "offset": "0h", "to": ["coordinator", "team-leader"]},
                {"name": "overdue-24h", "offset": "+24h", "to": ["team-leader"]},
            ],
        },
        "closure-notice-24h": {
            "due": "24h",
            "steps": [
                {"name": "warn-4h", "offset": "-4h", "to": ["coordinator"]},
                {"name": "due", "offset": "0h", "to": ["coordinator", "team-leader"]},
                {"name": "overdue-24h", "offset": "+24h", "to": ["team-leader"]},
            ],
        },
    }
