"""Generated referral mails: clean plain-text forms with unique references and people."""

from __future__ import annotations

from email.message import EmailMessage

FORM = """MARRAC REFERRAL

Force reference: LC-20260401-{n:04d}
Referral reason: Visible high risk
DASH score: 15
Risk level: High
Division: South
Area: Preston

Referrer name: PC {n} Test Officer
Referrer email: officer{n}@lancashire.police.uk
Referrer phone: 01772 000000

Incident date: 01/04/2026 01:00
Incident location: {n} Test Street, Preston PR1 9ZZ
Children present: Yes

== Victim ==
Name: {victim}
Date of birth: 02/05/1994
Gender: Female
Address: {n} Test Street, Preston PR1 9ZZ

== Perpetrator ==
Name: Perp Number{n}
Date of birth: 19/11/1990
Gender: Male

== Child ==
Name: Child Number{n}
Date of birth: 01/07/2018

== Summary ==
{summary}
"""


def referral(n: int, *, victim: str | None = None, summary: str = "Generated referral.") -> bytes:
    """A clean referral from an allowed sender; ``n`` makes it unique."""
    msg = EmailMessage()
    msg["From"] = f"PC {n} Test Officer <officer{n}@lancashire.police.uk>"
    msg["To"] = "marrac-referrals@hub.test"
    msg["Subject"] = f"MARRAC referral LC-20260401-{n:04d}"
    msg["Message-ID"] = f"<generated-{n}@lancashire.police.uk>"
    msg["Date"] = "Wed, 01 Apr 2026 02:00:00 +0100"
    msg.set_content(
        FORM.format(n=n, victim=victim or f"Victim Number{n}", summary=summary), cte="8bit"
    )
    return msg.as_bytes()


def force_reference(n: int) -> str:
    return f"LC-20260401-{n:04d}"
