"""The deadline policy named by ``[hub] policy_file`` (``config/policy.example.toml``)."""

from __future__ import annotations

import tomllib

from hub.config.problems import ConfigError
from hub.config.sections import Settings
from hub.domain.policy import DEFAULT_POLICY, Policy, PolicyError


def load_policy(settings: Settings) -> Policy:
    """The deadline policy from ``[hub] policy_file``, or the built-in defaults."""
    path = settings.hub.policy_file
    if path is None:
        return DEFAULT_POLICY
    try:
        return Policy.from_dict(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(f"[hub] policy_file: cannot read {path}: {exc}") from None
    except (tomllib.TOMLDecodeError, PolicyError) as exc:
        raise ConfigError(f"[hub] policy_file {path}: {exc}") from None
