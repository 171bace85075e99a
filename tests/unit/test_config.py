"""Settings fail fast and clearly; secrets come from the environment when given."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from hub.config import ConfigError, advisories, for_tests, load, load_policy, parse
from hub.config.declarations import declaration
from hub.config.sections import SECTIONS
from hub.resources import request_templates_dir

EXAMPLE = Path(__file__).parents[2] / "config" / "hub.example.toml"


def test_the_example_file_is_valid_once_a_password_is_supplied(tmp_path: Path) -> None:
    settings = load(EXAMPLE, env={"MARRAC_HUB_IMAP_PASSWORD": "from-env"})
    assert settings.intake.password == "from-env"
    assert settings.database.url.startswith("sqlite+aiosqlite:////")
    assert "from-env" not in repr(settings)  # secrets never in reprs (and so logs)


def test_the_example_file_without_a_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="MARRAC_HUB_IMAP_PASSWORD"):
        load(EXAMPLE, env={})


def test_plaintext_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        for_tests(
            tmp_path,
            intake={
                "source": "imap",
                "imap_host": "mail.example",
                "imap_security": "plain",
                "password": "x",
            },
        )


def test_unknown_keys_and_sections_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="colour"):
        for_tests(tmp_path, hub={"colour": "red"})
    with pytest.raises(ConfigError, match="unknown section"):
        parse({"hubb": {}}, tmp_path, {})


def test_no_team_leader_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="team_leaders"):
        for_tests(tmp_path, alerts={"team_leaders": []})


def test_a_missing_file_says_where_to_look(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("hub.example.toml")):
        load(tmp_path / "nope.toml", env={})


# -- every key declared once, checked at parse time ----------------------------------------


def _numeric_keys() -> list[tuple[str, str, float, float]]:
    """(section, key, minimum, maximum) of every number a settings file can hold."""
    found = []
    for section, cls in SECTIONS.items():
        for item in fields(cls):
            declared = declaration(item)
            if declared is not None and declared.minimum is not None:
                assert declared.maximum is not None, f"[{section}] {item.name} has no maximum"
                found.append((section, item.name, declared.minimum, declared.maximum))
    return found


def _problems(tmp_path: Path, **sections: dict[str, object]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        for_tests(tmp_path, **sections)
    return caught.value.problems


def test_an_unknown_time_zone_is_refused_at_parse_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[hub\] timezone .*'Mars/Olympus'"):
        for_tests(tmp_path, hub={"timezone": "Mars/Olympus"})
    assert for_tests(tmp_path, hub={"timezone": "Europe/Dublin"}).hub.timezone == "Europe/Dublin"


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("requests", "code_tries", 0),
        ("requests", "link_days", -3),
        ("outbox", "lease_seconds", -1),
        ("intake", "batch_size", 0),
    ],
)
def test_the_named_out_of_range_values_are_refused(
    tmp_path: Path, section: str, key: str, value: int
) -> None:
    with pytest.raises(ConfigError, match=rf"\[{section}\] {key} must be between"):
        for_tests(tmp_path, **{section: {key: value}})


# Keys that must move together: the first backoff may not exceed the longest.
_ROOM = {"outbox": {"backoff_first_seconds": 0.1, "backoff_max_seconds": 86400}}


@pytest.mark.parametrize(("section", "key", "low", "high"), _numeric_keys())
def test_every_number_has_a_minimum_and_a_maximum(
    tmp_path: Path, section: str, key: str, low: float, high: float
) -> None:
    for bad in (low - 1, high + 1):
        problems = _problems(tmp_path, **{section: {key: bad}})
        assert len(problems) == 1
        assert problems[0].startswith(f"[{section}] {key} must be between ")
    for good in (low, high):
        for_tests(tmp_path, **{section: {**_ROOM.get(section, {}), key: good}})


def test_the_first_backoff_may_not_exceed_the_longest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backoff_first_seconds must not exceed"):
        for_tests(tmp_path, outbox={"backoff_first_seconds": 60, "backoff_max_seconds": 30})


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("web", "port", 99999), ("smtp", "port", 0), ("intake", "imap_port", 65536)],
)
def test_ports_outside_the_tcp_range_are_refused(
    tmp_path: Path, section: str, key: str, value: int
) -> None:
    with pytest.raises(ConfigError, match=rf"\[{section}\] {key} must be between"):
        for_tests(tmp_path, **{section: {key: value}})


def test_web_port_0_means_any_free_port(tmp_path: Path) -> None:
    assert for_tests(tmp_path, web={"port": 0}).web.port == 0


@pytest.mark.parametrize(
    "url", ["ftp://hub.example.org", "https://", "hub.example.org", "http://[::1", ""]
)
def test_a_public_url_must_be_http_or_https_with_a_host(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"\[hub\] public_url must be an http"):
        for_tests(tmp_path, hub={"public_url": url})


def test_a_public_url_may_have_a_path(tmp_path: Path) -> None:
    url = "https://hub.example.org/marrac"
    assert for_tests(tmp_path, hub={"public_url": url}).hub.public_url == url


def test_the_policy_time_zone_must_be_the_hub_time_zone(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[calendar]\ntimezone = "Europe/Dublin"\n')
    with pytest.raises(ConfigError, match=r"'Europe/Dublin' differs from \[hub\] timezone"):
        for_tests(tmp_path, hub={"policy_file": str(policy)})
    both = for_tests(tmp_path, hub={"policy_file": str(policy), "timezone": "Europe/Dublin"})
    assert load_policy(both).timezone == "Europe/Dublin"


def test_a_bad_policy_file_is_named(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[calendar]\nnation = "atlantis"\n')
    with pytest.raises(ConfigError, match=r"calendar\.nation"):
        for_tests(tmp_path, hub={"policy_file": str(policy)})


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        for_tests(
            tmp_path,
            hub={"timezone": "Mars/Olympus", "colour": "red"},
            requests={"code_tries": 0, "link_days": -3},
            outbox={"lease_seconds": -1},
            web={"port": 99999},
            intake={"batch_size": "many"},
            alerts={"team_leaders": []},
        )
    problems = caught.value.problems
    assert len(problems) == 8
    for words in (
        "[hub] timezone",
        "[hub] has unknown key(s): colour",
        "[requests] code_tries",
        "[requests] link_days",
        "[outbox] lease_seconds",
        "[web] port",
        "[intake] batch_size must be a whole number",
        "[alerts] team_leaders is empty",
    ):
        assert sum(words in p for p in problems) == 1, words
    assert str(caught.value).splitlines() == list(problems)


def test_a_bad_value_is_not_reported_again_as_a_contradiction(tmp_path: Path) -> None:
    # Given a source that is neither imap nor maildir, nothing is said of its password.
    assert _problems(tmp_path, intake={"source": "pop3"}) == (
        "[intake] source must be one of imap, maildir, not 'pop3'",
    )


def test_choices_and_types_are_named(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, smtp={"security": "ssl"}, intake={"idle": "yes"}, outbox={"poll_seconds": "2"}
    )
    assert problems == (
        "[intake] idle must be true or false",
        "[smtp] security must be one of tls, starttls, plain, not 'ssl'",
        "[outbox] poll_seconds must be a number",
    )


def test_secrets_come_from_the_environment_and_stay_out_of_messages(tmp_path: Path) -> None:
    raw = {
        "hub": {"data_dir": str(tmp_path)},
        "intake": {"source": "imap", "password": "from-file"},
        "replies": {"password": "from-file"},
        "smtp": {"transport": "maildir", "maildir": str(tmp_path / "sent")},
        "alerts": {"team_leaders": ["a@hub.test"]},
    }
    env = {"MARRAC_HUB_IMAP_PASSWORD": "imap-env", "MARRAC_HUB_SMTP_PASSWORD": "smtp-env"}
    settings = parse(raw, tmp_path, env)
    assert settings.intake.password == "imap-env"
    assert settings.smtp.password == "smtp-env"
    assert settings.replies.password == "from-file"
    for secret in ("imap-env", "smtp-env", "from-file"):
        assert secret not in repr(settings)


def test_the_request_templates_ship_with_the_hub(tmp_path: Path) -> None:
    assert for_tests(tmp_path).requests.templates_dir == request_templates_dir()


def test_every_declared_key_is_in_the_example_file_with_a_comment_above_it() -> None:
    lines = EXAMPLE.read_text().splitlines()
    section = ""
    seen: set[tuple[str, str]] = set()
    for i, line in enumerate(lines):
        stripped = line.strip().removeprefix("# ")
        if stripped.startswith("["):
            section = stripped.strip("[]")
        elif re.fullmatch(r"[a-z_]+ = .*", stripped):
            assert lines[i - 1].lstrip().startswith("#"), f"no comment above line {i + 1}"
            seen.add((section, stripped.split(" ", 1)[0]))
    declared = {
        (name, item.name)
        for name, cls in SECTIONS.items()
        for item in fields(cls)
        if declaration(item) is not None
    }
    assert declared == seen


def test_the_default_agency_directory_sits_beside_the_settings_file(tmp_path: Path) -> None:
    # A settings file in config/ used to look for config/config/agencies.toml (issue 8).
    settings = for_tests(tmp_path / "config")
    assert settings.requests.agencies_file == tmp_path / "config" / "agencies.toml"
    given = for_tests(tmp_path / "config", agencies={"file": "../agencies.toml"})
    assert given.requests.agencies_file == (tmp_path / "agencies.toml").resolve()


def test_a_loopback_public_url_on_another_port_than_the_hub_is_pointed_out(
    tmp_path: Path,
) -> None:
    # Issue 8: public_url was never checked against [web] port.
    wrong = for_tests(tmp_path, hub={"public_url": "http://127.0.0.1:8080"}, web={"port": 8443})
    (note,) = advisories(wrong)
    assert "port 8080" in note and "[web] port is 8443" in note
    right = for_tests(tmp_path, hub={"public_url": "http://127.0.0.1:8443"}, web={"port": 8443})
    assert advisories(right) == []
    # Behind a proxy the public address is another host: nothing to say.
    proxied = for_tests(tmp_path, hub={"public_url": "https://hub.example"}, web={"port": 8080})
    assert advisories(proxied) == []
    # Any free port (tests): nothing to compare.
    assert advisories(for_tests(tmp_path, web={"port": 0})) == []
