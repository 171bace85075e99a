"""Settings fail fast and clearly; secrets come from the environment when given."""

from pathlib import Path

import pytest

from hub.config import ConfigError, for_tests, load, parse

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
    with pytest.raises(ConfigError, match="hub.example.toml"):
        load(tmp_path / "nope.toml", env={})
