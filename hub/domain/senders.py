"""Who may send referrals: the allowlist and what the receiving server vouched for.

``From:`` alone proves nothing (anyone can write it). The allowlist holds exact domains
and full addresses; look-alike domains (``lancashire-police.uk``,
``lancashire.police.uk.evil.example``, ``evil-lancashire.police.uk``) do not match, and
sub-domains are not implied. When a trusted authentication server is configured, only
mail whose ``Authentication-Results`` (RFC 8601) header *from that server* says DMARC
passed for the sender's domain (or, lacking a DMARC result, DKIM with a matching
``header.d`` or SPF with a matching ``smtp.mailfrom``) is accepted.

Without a trusted server, anyone can forge an allowlisted ``From:``. So the hub runs
that way only when the operator says so in as many words (``[intake]
allow_unauthenticated = true``), and says so loudly on every start
(:func:`sender_trust`). Replies to requests follow the same rule with the agency's
registered mailboxes in place of the allowlist (:func:`judge_reply_sender`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class SenderVerdict:
    allowed: bool
    reason: str


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def is_allowlisted(sender: str | None, allowed: tuple[str, ...]) -> bool:
    """Exact address or exact domain match, case-insensitive."""
    if not sender or "@" not in sender:
        return False
    sender = sender.strip().lower()
    local, _, domain = sender.rpartition("@")
    if not local or not domain:
        return False
    for entry in allowed:
        entry = entry.strip().lower()
        if "@" in entry:
            if sender == entry:
                return True
        elif domain == entry:
            return True
    return False


_RESULT = re.compile(r"\b(dmarc|dkim|spf)\s*=\s*([a-z]+)([^;]*)", re.IGNORECASE)
_PROP = re.compile(r"\b(header\.from|header\.d|header\.i|smtp\.mailfrom)\s*=\s*([^\s;]+)", re.I)


def _strip_comments(value: str) -> str:
    # RFC 8601 allows CFWS comments in parentheses; they carry no verdicts.
    out, depth = [], 0
    for ch in value:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


# {method: [(verdict, {property: value})]} from one Authentication-Results header.
_Results = dict[str, list[tuple[str, dict[str, str]]]]


def authenticated(sender: str, headers: tuple[str, ...], authserv_id: str) -> SenderVerdict:
    """Judge the ``Authentication-Results`` headers from ``authserv_id`` for ``sender``."""
    ours = _from_server(headers, authserv_id)
    if not ours:
        return SenderVerdict(False, "no Authentication-Results from the trusted server")
    # The trusted server adds its header on top; use the first (topmost) one of it.
    results = _results(ours[0])
    domain = _domain(sender)
    dmarc = _dmarc(results, domain)
    if dmarc is not None:
        return dmarc
    if _passes(results, "dkim", domain, "header.d", "header.i"):
        return SenderVerdict(True, "dkim=pass (aligned)")
    if _passes(results, "spf", domain, "smtp.mailfrom"):
        return SenderVerdict(True, "spf=pass (aligned)")
    return SenderVerdict(False, "sender not authenticated (no aligned dmarc, dkim or spf pass)")


def _from_server(headers: tuple[str, ...], authserv_id: str) -> list[str]:
    """The headers (comments removed) whose authserv-id is ``authserv_id``, in order."""
    ours = []
    for header in headers:
        text = _strip_comments(header).strip()
        words = text.split(";", 1)[0].split()
        ident = words[0].lower() if words else ""
        if ident == authserv_id.lower():
            ours.append(text)
    return ours


def _results(header: str) -> _Results:
    """Each method's verdicts with their properties, from one header's resinfo list."""
    results: _Results = {}
    for method, verdict, rest in _RESULT.findall(header.split(";", 1)[-1]):
        props = {k.lower(): v.strip().strip('"').lower() for k, v in _PROP.findall(rest)}
        results.setdefault(method.lower(), []).append((verdict.lower(), props))
    return results


def _aligned(props: dict[str, str], domain: str, *keys: str) -> bool:
    """The first of ``keys`` present names ``domain`` (RFC 7489 alignment, strict)."""
    for key in keys:
        value = props.get(key)
        if value is not None:
            return _domain(value) == domain
    return False


def _passes(results: _Results, method: str, domain: str, *keys: str) -> bool:
    return any(v == "pass" and _aligned(p, domain, *keys) for v, p in results.get(method, []))


def _dmarc(results: _Results, domain: str) -> SenderVerdict | None:
    """The DMARC verdict, or ``None`` to fall back to DKIM or SPF: no DMARC result, or
    only none/neutral (the domain publishes no policy)."""
    dmarc = results.get("dmarc")
    if dmarc is None:
        return None
    if _passes(results, "dmarc", domain, "header.from"):
        return SenderVerdict(True, "dmarc=pass")
    if all(v in ("none", "neutral") for v, _ in dmarc):
        return None
    return SenderVerdict(False, "dmarc=" + ",".join(v for v, _ in dmarc))


def judge_sender(
    sender: str | None,
    allowed: tuple[str, ...],
    auth_headers: tuple[str, ...],
    trusted_authserv_id: str,
) -> SenderVerdict:
    """The one decision intake asks: may this mail open a case?"""
    if not sender:
        return SenderVerdict(False, "no sender address")
    if not is_allowlisted(sender, allowed):
        return SenderVerdict(False, "sender not on the allowlist")
    if trusted_authserv_id:
        return authenticated(sender, auth_headers, trusted_authserv_id)
    return SenderVerdict(True, "allowlisted")


def judge_reply_sender(
    sender: str | None,
    mailboxes: tuple[str, ...] | list[str],
    auth_headers: tuple[str, ...],
    trusted_authserv_id: str,
) -> SenderVerdict:
    """May this reply be filed as the agency's answer? A valid reply address proves only
    that someone saw the request mail (it may have been forwarded or leaked): the
    sender must also be one of the agency's registered mailboxes (exact addresses,
    case-insensitive), and authenticated when a trusted server is configured."""
    if not sender:
        return SenderVerdict(False, "reply has no sender address")
    address = sender.strip().lower()
    if address not in {m.strip().lower() for m in mailboxes}:
        return SenderVerdict(False, "reply sender is not one of the agency's registered mailboxes")
    if trusted_authserv_id:
        verdict = authenticated(address, auth_headers, trusted_authserv_id)
        if not verdict.allowed:
            return SenderVerdict(False, f"reply sender not authenticated: {verdict.reason}")
        return verdict
    return SenderVerdict(True, "registered mailbox")


class SenderTrust(Enum):
    """How the hub may treat senders, from ``[intake]`` ``trusted_authserv_id`` and
    ``allow_unauthenticated``."""

    AUTHENTICATED = "authenticated"  # a trusted server vouches for every sender
    UNAUTHENTICATED = "unauthenticated"  # the operator opted out, explicitly
    REFUSED = "refused"  # neither: the hub must not read mail


UNAUTHENTICATED_REFUSAL = (
    "[intake] trusted_authserv_id is empty, so anyone could forge a police referral from"
    " an allowed address. Set it to your mail gateway's authserv-id, or set"
    " [intake] allow_unauthenticated = true to accept unauthenticated senders knowingly"
    " (demos and tests only)."
)
UNAUTHENTICATED_WARNING = (
    "event=intake.unauthenticated SENDERS ARE NOT AUTHENTICATED: [intake]"
    " allow_unauthenticated = true and no trusted_authserv_id, so a forged From: is"
    " accepted as an allowed sender. Not for live referrals."
)


def sender_trust(trusted_authserv_id: str, allow_unauthenticated: bool) -> SenderTrust:
    """Whether the hub may read mail: with a trusted server, or with the explicit
    opt-out; never by default."""
    if trusted_authserv_id.strip():
        return SenderTrust.AUTHENTICATED
    if allow_unauthenticated:
        return SenderTrust.UNAUTHENTICATED
    return SenderTrust.REFUSED
