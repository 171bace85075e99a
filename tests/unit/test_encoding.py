"""The one base64url helper: round trips, and refuses every other spelling."""

import pytest

from hub.crypto.encoding import b64url, is_canonical_b64url, unb64url


@pytest.mark.parametrize("data", [b"", b"a", b"ab", b"abc", b"\xff\xfe\x00", bytes(range(256))])
def test_bytes_round_trip_without_padding(data: bytes) -> None:
    text = b64url(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert unb64url(text) == data
    assert is_canonical_b64url(text)


@pytest.mark.parametrize("text", ["!!", "ab+c", "ab/c", "a b", "YQ=x", "é", "YQ\n"])
def test_anything_outside_the_alphabet_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not base64url"):
        unb64url(text)
    assert not is_canonical_b64url(text)


def test_a_second_spelling_of_the_same_bytes_is_not_canonical() -> None:
    # "YR" decodes to b"a" too (stray low bits): accepting both would give one value two names.
    assert unb64url("YR") == unb64url("YQ") == b"a"
    assert is_canonical_b64url("YQ")
    assert not is_canonical_b64url("YR")
