"""Every shared fixture through real SMTP -> Dovecot -> IMAP intake -> SMTP out, on SQLite
and PostgreSQL, with the outcome the fixtures' README table states."""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hub.runtime import DrainReport
from hub.services import cases
from tests.support.hub import FIXTURES, REFERRALS, TEAM_LEADER
from tests.support.hubs import TestHub, build_hub

SCHEMAS = Path(__file__).parents[2] / "schemas"


def submit(smtp_port: int, raw: bytes, to: str = REFERRALS) -> None:
    """Hand a message to the test SMTP server, which delivers it into Dovecot."""
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.sendmail("relay@hub.test", [to], raw)


async def run_intake(data_dir: Path, **hub: Any) -> tuple[TestHub, DrainReport]:
    """Open the hub in ``data_dir`` (``build_hub``'s arguments), drain its mailbox and
    deliver its outbox; the hub is left open for the test to read and close."""
    opened = await build_hub(data_dir, **hub)
    try:
        report = await opened.drain()
    finally:
        await opened.source.close()
    await opened.deliver()
    return opened, report


async def test_every_shared_fixture_ends_as_its_readme_says(
    mail_stack: Any, db_url: str, tmp_path: Path
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    # Given all ten fixtures delivered over SMTP into the referral mailbox, in order
    names = sorted(p.name for p in (FIXTURES / "referrals").glob("*.eml"))
    assert len(names) == 10
    for name in names:
        submit(smtp.port, (FIXTURES / "referrals" / name).read_bytes())
    assert dovecot.count(REFERRALS) == 10
    smtp.clear()

    # When intake drains the mailbox and the outbox is delivered
    hub, report = await run_intake(tmp_path, db=db_url, edges=mail_stack)
    try:
        all_cases = await cases.list_cases(hub.ctx, "test")
        quarantined = await cases.list_inbound(hub.ctx, "quarantine", "test")
    finally:
        await hub.close()

    # Then: nine cases (07 is quarantined), nothing left in the inbox
    assert report.parked == 0
    assert dovecot.count(REFERRALS, "INBOX") == 0
    assert dovecot.count(REFERRALS, "Processed") == 9
    assert dovecot.count(REFERRALS, "Quarantine") == 1
    assert len(all_cases) == 9
    schema = __import__("json").loads((SCHEMAS / "case.schema.json").read_text())
    for case in all_cases:
        jsonschema.validate(case, schema)
    by_force = {c["force_reference"]: c for c in all_cases}

    c01 = by_force["LC-20260312-0045"]
    assert c01["status"] == "open" and c01["risk_level"] == "High"
    assert c01["victim"]["name"] == "Emma Clarke"
    assert c01["victim"]["date_of_birth"] == "1994-05-02"
    assert c01["perpetrator"]["name"] == "Daniel Hughes"
    assert len(c01["children"]) == 2
    assert c01["repeat_of"] is None

    c02 = by_force["LC-20260314-0102"]
    assert c02["victim"]["name"] == "Zoë O’Brien" and c02["children"] == []

    c03 = by_force["LC-20260315-0007"]
    assert c03["victim"]["name"] == "Priya Natarajan"
    assert "alert(" not in __import__("json").dumps(c03)

    c04 = by_force["LC-20260316-0311"]
    assert c04["source"] == "json"
    assert (c04["victim"]["name"], c04["victim"]["date_of_birth"]) == ("Hannah Lowe", "1999-08-08")
    assert len(c04["children"]) == 1

    c05 = by_force["LC-20260317-0050"]
    assert c05["status"] == "needs-triage"
    assert "victim date of birth missing" in c05["problems"]
    assert c05["perpetrator"] is None

    c06 = by_force["LC-20260318-0019"]
    assert c06["referrer"]["email"] == "lee.booth@lancashire.police.uk"
    assert c06["forwarded_by"] == "r.patel@lancashire.police.uk"
    assert c06["sender"] == "r.patel@lancashire.police.uk"

    c08 = by_force["LC-20260402-0077"]
    assert c08["repeat_of"] == c01["ref"]
    assert c01["ref"] in c08["linked_cases"]

    triage = [c for c in all_cases if c["status"] == "needs-triage"]
    c09 = next(
        c
        for c in triage
        if c["force_reference"] is None and c["source"] == "none" and not c["attachments"]
    )
    assert c09["problems"]
    c10 = next(c for c in triage if any(a["filename"].endswith(".docx") for a in c["attachments"]))
    assert c10["status"] == "needs-triage"

    assert len(quarantined) == 1
    assert quarantined[0]["sender"] == "someone@gmail.example"
    assert "allowlist" in quarantined[0]["reason"]

    # And the mail that went out: an acknowledgement per case to the allowed sender(s),
    # an alert per case and one for the quarantine to the team leader, none to strangers.
    to_leader = smtp.messages(to=TEAM_LEADER)
    assert len(to_leader) == 10
    assert sum("quarantined" in m["Subject"] for m in to_leader) == 1
    assert not smtp.messages(to="someone@gmail.example")
    acks = [m for m in smtp.messages() if m["Subject"].startswith("MARRAC referral received")]
    # 06 was forwarded: both the sergeant and the original referrer are acknowledged.
    assert len(acks) == 10
    ack06 = {m["To"] for m in acks if "LC-20260318-0019" in m["Subject"]}
    assert ack06 == {"r.patel@lancashire.police.uk", "lee.booth@lancashire.police.uk"}
    for m in smtp.messages():
        assert m["Auto-Submitted"] == "auto-generated"
        assert "Emma" not in m.as_string()  # no personal data in mail

    # The alert reaches the team leader's real mailbox too
    assert dovecot.count(TEAM_LEADER) == 10


async def test_running_intake_again_changes_nothing(
    mail_stack: Any, db_url: str, tmp_path: Path
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    submit(smtp.port, (FIXTURES / "referrals" / "01-case-study.eml").read_bytes())
    hub, first = await run_intake(tmp_path, db=db_url, edges=mail_stack)
    await hub.close()
    sent = len(smtp.messages())
    # Put the very same bytes back (as a crash before the move would leave them)
    dovecot.append(REFERRALS, (FIXTURES / "referrals" / "01-case-study.eml").read_bytes())
    hub, second = await run_intake(tmp_path, db=db_url, edges=mail_stack)
    try:
        assert first.outcomes == {"case": 1}
        assert second.outcomes == {"duplicate": 1}
        assert len(await cases.list_cases(hub.ctx, "test")) == 1
        assert len(await cases.list_inbound(hub.ctx, "duplicate", "test")) == 1
    finally:
        await hub.close()
    assert len(smtp.messages()) == sent  # a duplicate is never answered


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_intake_speaks_tls_and_starttls_with_verification(
    mail_stack: Any, tmp_path: Path, security: str
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    submit(smtp.port, (FIXTURES / "referrals" / "02-cp1252-quoted-printable.eml").read_bytes())
    port = dovecot.imaps_port if security == "tls" else dovecot.imap_port
    hub, report = await run_intake(
        tmp_path,
        edges=mail_stack,
        intake={
            "imap_port": port,
            "imap_security": security,
            "imap_host": "localhost",
            "ca_file": str(dovecot.ca_file),
        },
    )
    await hub.close()
    assert report.outcomes == {"case": 1}


def forged_repeat_of_01(referrer: str) -> bytes:
    """The repeat referral about the case study's victim, forged: ``From:`` an allowed
    police address, the form's referrer swapped for ``referrer``, and a DMARC pass
    claimed by a server that is not ours."""
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    original = message_from_bytes(
        (FIXTURES / "referrals" / "08-repeat-of-01.eml").read_bytes(), policy=policy.default
    )
    body = original.get_body()
    assert body is not None
    text = body.get_content().replace(
        "Referrer email: sarah.holt@lancashire.police.uk", f"Referrer email: {referrer}"
    )
    assert referrer in text
    forged = EmailMessage()
    forged["Authentication-Results"] = (
        "mx.evil.example; dmarc=pass header.from=lancashire.police.uk"
    )
    forged["From"] = "PC 4471 Sarah Holt <sarah.holt@lancashire.police.uk>"
    forged["To"] = REFERRALS
    forged["Subject"] = str(original["Subject"])
    forged["Message-ID"] = "<forged-0077@evil.example>"
    forged.set_content(text)
    return bytes(forged)


async def test_a_forged_police_referral_opens_no_case_and_is_answered_to_nobody(
    mail_stack: Any, db_url: str, tmp_path: Path
) -> None:
    # Given a hub whose mail gateway (mx.hub.test) vouches for senders, the genuine case
    # study vouched for, and a forged repeat about the same victim that is not
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    vouched = (
        b"Authentication-Results: mx.hub.test; dmarc=pass header.from=lancashire.police.uk\r\n"
    )
    submit(smtp.port, vouched + (FIXTURES / "referrals" / "01-case-study.eml").read_bytes())
    submit(smtp.port, forged_repeat_of_01("attacker@evil.example"))
    assert dovecot.count(REFERRALS) == 2
    smtp.clear()

    # When intake drains the mailbox and the outbox is delivered
    hub, report = await run_intake(
        tmp_path,
        db=db_url,
        edges=mail_stack,
        intake={"trusted_authserv_id": "mx.hub.test", "allow_unauthenticated": False},
    )
    try:
        all_cases = await cases.list_cases(hub.ctx, "test")
        quarantined = await cases.list_inbound(hub.ctx, "quarantine", "test")
    finally:
        await hub.close()

    # Then the forgery is quarantined: no case, no link to the victim's real case
    assert report.outcomes == {"case": 1, "quarantine": 1}
    (case,) = all_cases
    assert case["force_reference"] == "LC-20260312-0045" and case["linked_cases"] == []
    assert quarantined[0]["reason"] == "no Authentication-Results from the trusted server"
    # And nothing is mailed to the address the forged body supplied, nor to the forged
    # From: the only acknowledgement is the genuine referral's, to its sender
    assert not smtp.messages(to="attacker@evil.example")
    acks = [m for m in smtp.messages() if m["Subject"].startswith("MARRAC referral received")]
    assert [m["To"] for m in acks] == ["sarah.holt@lancashire.police.uk"]
    assert "LC-20260402-0077" not in " ".join(str(m["Subject"]) for m in smtp.messages())
    others = {str(m["To"]) for m in smtp.messages()} - {TEAM_LEADER, acks[0]["To"]}
    assert others == set()
