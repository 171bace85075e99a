"""Link tokens, reply addresses and one-time codes: each good path has a wrong-key twin."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.crypto import keys
from hub.crypto.encoding import b64url
from hub.crypto.sessions import SessionSigner, same_token
from hub.crypto.tokens import (
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenService,
    check_expiry,
    derive_subkey,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
PURPOSE = "request-link"


@pytest.fixture
def service() -> TokenService:
    return TokenService(KEY_A, PURPOSE)


# --- link tokens -------------------------------------------------------------------------


def test_a_new_link_token_is_256_random_bits_and_its_hash_verifies(service: TokenService) -> None:
    token, token_hash = service.new_link_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert re.fullmatch(r"[0-9a-f]{64}", token_hash)
    assert token not in token_hash
    assert service.hash_token(token) == token_hash
    assert service.verify(token, token_hash)


def test_tokens_are_never_repeated(service: TokenService) -> None:
    tokens = {service.new_link_token()[0] for _ in range(200)}
    assert len(tokens) == 200


def test_the_hash_is_keyed_so_a_database_reader_cannot_recompute_it(
    service: TokenService,
) -> None:
    token, token_hash = service.new_link_token()
    assert token_hash != hashlib.sha256(token.encode()).hexdigest()


def test_a_token_hashed_under_key_a_does_not_verify_under_key_b(service: TokenService) -> None:
    token, token_hash = service.new_link_token()
    other = TokenService(KEY_B, PURPOSE)
    assert not other.verify(token, token_hash)
    assert other.hash_token(token) != token_hash


def test_purposes_are_separated(service: TokenService) -> None:
    token, token_hash = service.new_link_token()
    other = TokenService(KEY_A, "staff-invite")
    assert not other.verify(token, token_hash)
    assert other.hash_token(token) != token_hash


def test_the_same_key_and_purpose_agree_across_instances(service: TokenService) -> None:
    token, token_hash = service.new_link_token()
    assert TokenService(KEY_A, PURPOSE).verify(token, token_hash)


def test_a_different_token_does_not_verify(service: TokenService) -> None:
    _token, token_hash = service.new_link_token()
    other_token, _ = service.new_link_token()
    assert not service.verify(other_token, token_hash)


def _respell_last(token: str) -> str:
    # 43 characters carry 2 spare bits: set one to spell the same bytes differently.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return token[:-1] + alphabet[alphabet.index(token[-1]) | 0b01]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],  # truncated
        lambda t: t[:22],  # half
        lambda t: "",
        lambda t: t + "A",  # too long
        lambda t: t + "=",  # padded
        lambda t: t.replace(t[5], "+" if t[5] != "+" else "/", 1),  # standard base64
        lambda t: t[:10] + " " + t[11:],
        lambda t: t[:10] + "é" + t[11:],
        lambda t: " " + t[1:],
        lambda t: t + "\n",
        _respell_last,
        lambda t: None,
        lambda t: t.encode(),
        lambda t: 12345,
    ],
)
def test_malformed_tokens_are_refused_without_raising(
    service: TokenService, mangle: object
) -> None:
    token, token_hash = service.new_link_token()
    bad = mangle(token)  # type: ignore[operator]
    assert service.verify(bad, token_hash) is False
    with pytest.raises(TokenInvalid):
        service.hash_token(bad)


def test_a_tampered_token_is_refused(service: TokenService) -> None:
    token, token_hash = service.new_link_token()
    flipped = token[:7] + ("B" if token[7] == "A" else "A") + token[8:]
    assert not service.verify(flipped, token_hash)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: h[:-1],
        lambda h: h.upper(),
        lambda h: h[:-1] + ("0" if h[-1] != "0" else "1"),
        lambda h: "",
        lambda h: None,
        lambda h: h + "\n",
    ],
)
def test_a_tampered_or_malformed_stored_hash_is_refused(
    service: TokenService, mangle: object
) -> None:
    token, token_hash = service.new_link_token()
    assert service.verify(token, mangle(token_hash)) is False  # type: ignore[operator]


@pytest.mark.parametrize(
    ("secret", "purpose", "message"),
    [
        (KEY_A[:31], PURPOSE, "32 bytes"),
        (KEY_A + b"x", PURPOSE, "32 bytes"),
        (KEY_A, "", "purpose"),
        (KEY_A, "Request Link", "purpose"),
        (KEY_A, "link\x00", "purpose"),
        (KEY_A, "reply-address", "reserved"),
        (KEY_A, "one-time-code", "reserved"),
    ],
)
def test_a_service_needs_a_32_byte_key_and_a_plain_unreserved_purpose(
    secret: bytes, purpose: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TokenService(secret, purpose)


def test_the_service_never_shows_its_keys(service: TokenService) -> None:
    assert repr(service) == "TokenService(purpose='request-link')"
    assert KEY_A.hex() not in repr(vars(service))


def test_a_service_from_the_key_ring_uses_the_active_token_key(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    ring = keys.load(tmp_path)
    from_ring = TokenService.from_ring(ring, PURPOSE)
    token, token_hash = from_ring.new_link_token()
    assert TokenService(ring.current("token").secret, PURPOSE).verify(token, token_hash)


def test_capabilities_issued_before_a_token_rotation_still_check_under_their_key(
    tmp_path: Path,
) -> None:
    keys.generate(tmp_path)
    before = TokenService.from_ring(keys.load(tmp_path), PURPOSE)
    token, token_hash = before.new_link_token()
    reply = before.reply_address("replies", "hub.test", 7)
    code_hash = before.hash_code("123456", 7)
    keys.rotate(tmp_path, "token", NOW)
    services = TokenService.every_key(keys.load(tmp_path), PURPOSE)
    assert len(services) == 2
    assert services[0].reply_address("replies", "hub.test", 7) != reply  # new key first
    assert any(s.verify(token, token_hash) for s in services)
    assert [s.parse_reply_address(reply, "replies", "hub.test") for s in services] == [None, 7]
    assert any(s.verify_code("123456", 7, code_hash) for s in services)
    # Wrong-key twin: another hub's token keys accept none of them.
    keys.generate(tmp_path / "other")
    others = TokenService.every_key(keys.load(tmp_path / "other"), PURPOSE)
    assert not any(s.verify(token, token_hash) for s in others)
    assert not any(s.parse_reply_address(reply, "replies", "hub.test") for s in others)
    assert not any(s.verify_code("123456", 7, code_hash) for s in others)


# --- expiry ------------------------------------------------------------------------------

NOW = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def test_a_token_is_valid_until_just_before_its_expiry() -> None:
    check_expiry(NOW + timedelta(seconds=1), NOW)
    with pytest.raises(TokenExpired, match="expired"):
        check_expiry(NOW, NOW)  # the expiry instant is already too late (RFC 7519 exp)
    with pytest.raises(TokenExpired):
        check_expiry(NOW - timedelta(days=1), NOW)
    assert issubclass(TokenExpired, TokenError) and issubclass(TokenInvalid, TokenError)


def test_expiry_needs_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_expiry(datetime(2026, 3, 14, 9, 0), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_expiry(NOW, datetime(2026, 3, 14, 9, 0))


# --- reply addresses ---------------------------------------------------------------------


def test_a_reply_address_names_its_request_and_parses_back(service: TokenService) -> None:
    address = service.reply_address("replies", "hub.test", 42)
    assert re.fullmatch(r"replies\+42\.[a-z2-7]{16}@hub\.test", address)
    assert service.parse_reply_address(address, "replies", "hub.test") == 42


def test_the_reply_address_does_not_depend_on_the_link_purpose(service: TokenService) -> None:
    # Reply addresses have their own subkey: any service on the same key reads them.
    address = service.reply_address("replies", "hub.test", 42)
    other = TokenService(KEY_A, "staff-invite")
    assert other.reply_address("replies", "hub.test", 42) == address
    assert other.parse_reply_address(address, "replies", "hub.test") == 42


def test_reply_addresses_compare_case_insensitively(service: TokenService) -> None:
    address = service.reply_address("replies", "hub.test", 7)
    assert service.parse_reply_address(address.upper(), "replies", "hub.test") == 7
    assert service.parse_reply_address(address, "REPLIES", "HUB.TEST") == 7
    assert service.parse_reply_address(f"  {address}\t", "replies", "hub.test") == 7
    assert service.parse_reply_address(address + ".", "replies", "hub.test") == 7


def test_a_reply_address_minted_under_key_a_is_refused_under_key_b(
    service: TokenService,
) -> None:
    address = service.reply_address("replies", "hub.test", 42)
    assert TokenService(KEY_B, PURPOSE).parse_reply_address(address, "replies", "hub.test") is None


def _mac(address: str) -> str:
    return address.split("@")[0].split(".")[-1]


def test_a_mac_cannot_be_moved_to_another_request(service: TokenService) -> None:
    mac_for_42 = _mac(service.reply_address("replies", "hub.test", 42))
    forged = f"replies+43.{mac_for_42}@hub.test"
    assert service.parse_reply_address(forged, "replies", "hub.test") is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: a.replace("+42.", "+042."),  # non-canonical id
        lambda a: a.replace("+42.", "+4\u0662."),  # an Arabic-Indic digit
        lambda a: a.replace("@hub.test", "@evil.test"),
        lambda a: a.replace("@hub.test", "@hub.test.evil.test"),
        lambda a: a.replace("@hub.test", "@sub.hub.test"),
        lambda a: a.replace("replies+", "replie+"),
        lambda a: a.replace("replies+", "other+"),
        lambda a: a.replace("replies+", "replies"),
        lambda a: a.replace("replies+", "x.replies+"),
        lambda a: a.split("@")[0],  # no domain
        lambda a: a.replace("@", "@@"),
        lambda a: a[: a.index("@") - 1] + a[a.index("@") :],  # truncated MAC
        lambda a: a[: a.index("@")] + "a" + a[a.index("@") :],  # longer MAC
        lambda a: a.replace(".", "-", 1),
        lambda a: a.replace("+42.", "+42.."),
        lambda a: a.replace("+42.", "+-42."),
        lambda a: a.replace("@", "\n@"),
        lambda a: a + "\nBcc: x@evil.test",
        lambda a: f"Someone <{a}>",
        lambda a: "",
        lambda a: None,
    ],
)
def test_forged_or_garbled_reply_addresses_give_none(service: TokenService, mangle: object) -> None:
    address = service.reply_address("replies", "hub.test", 42)
    bad = mangle(address)  # type: ignore[operator]
    assert service.parse_reply_address(bad, "replies", "hub.test") is None


def test_every_single_character_change_to_the_mac_is_refused(service: TokenService) -> None:
    address = service.reply_address("replies", "hub.test", 42)
    mac = _mac(address)
    for i in range(len(mac)):
        for ch in "abcdefghijklmnopqrstuvwxyz234567":
            if ch == mac[i]:
                continue
            forged = address.replace(mac, mac[:i] + ch + mac[i + 1 :])
            assert service.parse_reply_address(forged, "replies", "hub.test") is None


def test_plain_address_without_detail_is_not_a_request_reply(service: TokenService) -> None:
    assert service.parse_reply_address("replies@hub.test", "replies", "hub.test") is None


@pytest.mark.parametrize(
    ("local", "domain", "request_id"),
    [
        ("replies", "hub.test", 0),
        ("replies", "hub.test", -1),
        ("replies", "hub.test", True),
        ("re+plies", "hub.test", 1),
        ("replies@x", "hub.test", 1),
        ("", "hub.test", 1),
        ("replies", "", 1),
        ("replies", "a@hub.test", 1),
    ],
)
def test_reply_addresses_need_a_positive_id_and_a_plain_local_part_and_domain(
    service: TokenService, local: str, domain: str, request_id: int
) -> None:
    with pytest.raises(ValueError):
        service.reply_address(local, domain, request_id)


# --- one-time codes ----------------------------------------------------------------------


def test_one_time_codes_are_six_digits_with_leading_zeros_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda n: 42 if n == 10**6 else -1)
    assert TokenService.one_time_code() == "000042"


def test_one_time_codes_look_uniform(service: TokenService) -> None:
    codes = [service.one_time_code() for _ in range(5000)]
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    assert len(set(codes)) > 4900
    # Each digit position is roughly uniform (expected 500 each; a loose bound, no flakes).
    for position in range(6):
        counts = Counter(c[position] for c in codes)
        assert set(counts) == set("0123456789")
        assert all(350 < n < 650 for n in counts.values())


def test_a_code_verifies_for_its_request_only(service: TokenService) -> None:
    code = "123456"
    stored = service.hash_code(code, 42)
    assert re.fullmatch(r"[0-9a-f]{64}", stored) and code not in stored
    assert service.verify_code(code, 42, stored)
    assert service.verify_code("123 456", 42, stored)  # as people type it
    assert service.verify_code("123-456", 42, stored)
    assert not service.verify_code("123457", 42, stored)
    assert not service.verify_code(code, 43, stored)
    assert service.hash_code(code, 43) != stored


def test_a_code_hashed_under_key_a_does_not_verify_under_key_b(service: TokenService) -> None:
    stored = service.hash_code("123456", 42)
    assert not TokenService(KEY_B, PURPOSE).verify_code("123456", 42, stored)


def _hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def test_stored_values_follow_the_documented_per_purpose_derivation(
    service: TokenService,
) -> None:
    # Pinned: stored hashes and issued reply addresses must survive a refactor.
    def subkey(purpose: str) -> bytes:
        return hmac.new(KEY_A, b"marrac-hub:" + purpose.encode(), hashlib.sha256).digest()

    token, token_hash = service.new_link_token()
    assert token_hash == _hmac_hex(subkey(PURPOSE), token.encode())
    assert service.hash_code("012345", 42) == _hmac_hex(subkey("one-time-code"), b"42:012345")
    mac = base64.b32encode(hmac.new(subkey("reply-address"), b"42", hashlib.sha256).digest())
    assert _mac(service.reply_address("r", "hub.test", 42)) == mac.decode().lower()[:16]


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "", "١٢٣٤٥٦", "123456\n7", None])
def test_malformed_codes_are_refused(service: TokenService, code: str) -> None:
    stored = service.hash_code("123456", 42)
    assert service.verify_code(code, 42, stored) is False
    with pytest.raises(TokenInvalid, match="six digits"):
        service.hash_code(code, 42)


def test_a_malformed_stored_code_hash_is_refused(service: TokenService) -> None:
    assert service.verify_code("123456", 42, "not-a-hash") is False


# --- session values ----------------------------------------------------------------------


def test_the_session_signer_refuses_what_it_did_not_sign() -> None:
    signer = SessionSigner(b"k" * 32)
    value = signer.sign({"a": 1}, expires=1000)
    assert signer.unsign(value, now=999) == {"a": 1}
    assert signer.unsign(value, now=1000) is None
    assert SessionSigner(b"j" * 32).unsign(value, now=0) is None
    for bad in ["", ".", "x.y", "é.é", value + "x", "." + value, value.replace(".", "")]:
        assert signer.unsign(bad, now=0) is None
    # Signed but not a session (a list, no expiry, a bool expiry): refused too.
    for body in [b"[]", b'{"data":{}}', b'{"data":{},"exp":true}', b'{"data":[],"exp":5}']:
        encoded = b64url(body)
        assert signer.unsign(f"{encoded}.{signer._mac(encoded)}", now=0) is None
    assert "k" not in repr(signer)


def test_a_session_value_with_a_non_ascii_mac_is_refused_not_an_error() -> None:
    signer = SessionSigner(KEY_A)
    body = signer.sign({"a": 1}, expires=1000).partition(".")[0]
    assert signer.unsign(f"{body}.é", now=0) is None


def test_sessions_are_signed_under_the_documented_web_session_subkey() -> None:
    # Given the derivation every subkey uses, a cookie signed before a refactor still
    # verifies after it, and a session MAC is never a link hash (another purpose).
    subkey = hmac.new(KEY_A, b"marrac-hub:web-session", hashlib.sha256).digest()
    assert derive_subkey(KEY_A, "web-session") == subkey
    body, _, mac = SessionSigner(KEY_A).sign({"a": 1}, expires=5).partition(".")
    assert mac == b64url(hmac.new(subkey, body.encode(), hashlib.sha256).digest())
    assert derive_subkey(KEY_A, "web-session") != derive_subkey(KEY_A, PURPOSE)
    assert derive_subkey(KEY_B, "web-session") != subkey
    with pytest.raises(ValueError, match="reserved"):
        TokenService(KEY_A, "web-session")  # no link token may share the session key


def test_secrets_compare_equal_only_when_they_are() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("abc", "ab")
    assert not same_token("é", "e")
