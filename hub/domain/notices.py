"""The words of the mail intake sends: acknowledgements, alerts. No personal data.

Email crosses systems the hub does not control, so these texts carry references and
states only: never a name, address or date of birth (the staff app and CLI show those).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Notice:
    """One mail to one recipient. ``dedupe_key`` makes it exist at most once."""

    kind: str
    recipient: str
    subject: str
    body: str
    dedupe_key: str
    subject_ref: str | None = None
    in_reply_to: str | None = None
    # Where replies should go (a request's MAC'd plus address).
    reply_to: str | None = None
    # (filename, content type, bytes): e.g. the signed request sealed to the agency.
    attachments: tuple[tuple[str, str, bytes], ...] = ()


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M %Z")


def acknowledgement(
    *,
    recipient: str,
    case_ref: str,
    force_reference: str | None,
    needs_triage: bool,
    received_at: datetime,
    tz: str,
    dedupe_key: str,
    in_reply_to: str | None,
) -> Notice:
    fr = force_reference or "(none given)"
    lines = [
        "Thank you: your MARRAC referral has been received.",
        "",
        f"Case reference: {case_ref}",
        f"Force reference: {fr}",
        f"Received: {_local(received_at, tz)}",
        "",
    ]
    if needs_triage:
        lines += [
            "Some details could not be read from the referral. The team leader will check",
            "it and may contact you. Please do not resend it.",
        ]
    else:
        lines += ["The team leader will allocate a case co-ordinator shortly."]
    lines += [
        "",
        "Please quote the case reference in any further contact.",
        "This is an automatic acknowledgement from marrac-hub.",
    ]
    return Notice(
        kind="ack",
        recipient=recipient,
        subject=f"MARRAC referral received: {case_ref} ({fr})",
        body="\n".join(lines) + "\n",
        dedupe_key=dedupe_key,
        subject_ref=case_ref,
        in_reply_to=in_reply_to,
    )


def new_case_alert(
    *,
    recipient: str,
    case_ref: str,
    risk_level: str | None,
    division: str | None,
    area: str | None,
    needs_triage: bool,
    problems: tuple[str, ...],
    repeat_of: str | None,
    received_at: datetime,
    tz: str,
    dedupe_key: str,
) -> Notice:
    state = "needs triage" if needs_triage else "awaiting allocation"
    lines = [
        f"A new MARRAC case {'needs triage' if needs_triage else 'is awaiting allocation'}.",
        "",
        f"Case reference: {case_ref}",
        f"Risk level: {risk_level or 'not stated'}",
        f"Division / area: {division or '-'} / {area or '-'}",
        f"Received: {_local(received_at, tz)}",
    ]
    if repeat_of:
        lines.append(f"Repeat referral: linked to {repeat_of}")
    if problems:
        lines += ["", "Problems found:"] + [f"- {p}" for p in problems]
    lines += ["", f"Open it with: marrac-hub cases show {case_ref}"]
    return Notice(
        kind="alert:new-case",
        recipient=recipient,
        subject=f"[MARRAC] New case {case_ref} {state} (risk: {risk_level or 'unknown'})",
        body="\n".join(lines) + "\n",
        dedupe_key=dedupe_key,
        subject_ref=case_ref,
    )


def referrer_closure(
    *, recipient: str, case_ref: str, force_reference: str | None, dedupe_key: str
) -> Notice:
    """The police referrer's word that the case they referred is closed: references
    only (never why it closed, which can name people)."""
    fr = force_reference or "(none given)"
    lines = [
        "The MARRAC case opened from your referral is now closed. Thank you.",
        "",
        f"Case reference: {case_ref}",
        f"Force reference: {fr}",
        "",
        "Please quote the case reference if you refer the same people again.",
        "This is an automatic message from marrac-hub.",
    ]
    return Notice(
        kind="closure-referrer",
        recipient=recipient,
        subject=f"MARRAC case closed: {case_ref} ({fr})",
        body="\n".join(lines) + "\n",
        dedupe_key=dedupe_key,
        subject_ref=case_ref,
    )


def quarantine_alert(
    *,
    recipient: str,
    inbound_id: int,
    reason: str,
    received_at: datetime,
    tz: str,
    dedupe_key: str,
) -> Notice:
    lines = [
        "A message to the referral mailbox was quarantined and opened no case.",
        "",
        f"Reason: {reason}",
        f"Received: {_local(received_at, tz)}",
        f"Record: inbound message {inbound_id}",
        "",
        "Review it with: marrac-hub quarantine list",
    ]
    return Notice(
        kind="alert:quarantine",
        recipient=recipient,
        subject=f"[MARRAC] Message quarantined: {reason}",
        body="\n".join(lines) + "\n",
        dedupe_key=dedupe_key,
    )


def parked_alert(
    *,
    recipient: str,
    parked_id: int,
    stage: str,
    received_at: datetime,
    tz: str,
    dedupe_key: str,
) -> Notice:
    lines = [
        f"An item failed unexpectedly in stage '{stage}' and was parked.",
        "",
        f"Parked item: {parked_id}",
        f"When: {_local(received_at, tz)}",
        "",
        "See it with: marrac-hub parked list; replay with: marrac-hub parked retry ID",
    ]
    return Notice(
        kind="alert:parked",
        recipient=recipient,
        subject=f"[MARRAC] Processing failure parked ({stage})",
        body="\n".join(lines) + "\n",
        dedupe_key=dedupe_key,
    )
