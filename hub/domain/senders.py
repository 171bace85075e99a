"""Who may send referrals: the allowlist and what the receiving server vouched for.

``From:`` alone proves nothing (anyone can write it). The allowlist holds exact domains
and full addresses; look-alike domains (``lancashire-police.uk``,
``lancashire.police.uk.evil.example``, ``evil-lancashire.police.uk``) do not match, and
sub-domains are not implied. When a trusted authentication server is configured, only
mail whose ``Authentication-Results`` (RFC 8601) header *from that server* says DMARC
passed for the sender's domain (or, lacking a DMARC result, DKIM with a matching
``header.d`` or SPF with a matching ``smtp.mailfrom``) is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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


def authenticated(sender: str, headers: tuple[str, ...], authserv_id: str) -> SenderVerdict:
    """Judge the ``Authentication-Results`` headers from ``authserv_id`` for ``sender``."""
    domain = _domain(sender)
    ours = []
    for header in headers:
        text = _strip_comments(header).strip()
        ident = text.split(";", 1)[0].split()[0].lower() if text.split(";", 1)[0].split() else ""
        if ident == authserv_id.lower():
            ours.append(text)
    if not ours:
        return SenderVerdict(False, "no Authentication-Results from the trusted server")
    # The trusted server adds its header on top; use the first (topmost) one of it.
    results: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for method, verdict, rest in _RESULT.findall(ours[0].split(";", 1)[-1]):
        props = {k.lower(): v.strip().strip('"').lower() for k, v in _PROP.findall(rest)}
        results.setdefault(method.lower(), []).append((verdict.lower(), props))

    def aligned(props: dict[str, str], *keys: str) -> bool:
        for key in keys:
            value = props.get(key)
            if value is not None:
                return _domain(value) == domain
        return False

    if "dmarc" in results:
        ok = any(v == "pass" and aligned(p, "header.from") for v, p in results["dmarc"])
        if ok:
            return SenderVerdict(True, "dmarc=pass")
        verdicts = ",".join(v for v, _ in results["dmarc"])
        if all(v in ("none", "neutral") for v, _ in results["dmarc"]):
            pass  # no policy published: fall back to DKIM or SPF below
        else:
            return SenderVerdict(False, f"dmarc={verdicts}")
    if any(v == "pass" and aligned(p, "header.d", "header.i") for v, p in results.get("dkim", [])):
        return SenderVerdict(True, "dkim=pass (aligned)")
    if any(v == "pass" and aligned(p, "smtp.mailfrom") for v, p in results.get("spf", [])):
        return SenderVerdict(True, "spf=pass (aligned)")
    return SenderVerdict(False, "sender not authenticated (no aligned dmarc, dkim or spf pass)")


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
