"""A server without MOVE (RFC 6851): committed mail is copied to Processed and flagged
\\Seen in the inbox, and is not read again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dovecot import DovecotServer, dovecot_available
from tests.support.hub import REFERRALS
from tests.support.hubs import HubFactory, Ports
from tests.support.referrals import referral
from tests.support.services import require


@pytest.fixture
def dovecot_without_move() -> Iterator[DovecotServer]:
    ok, why = dovecot_available()
    require("dovecot", ok, why)
    # The capability list Dovecot 2.3 sends after login, less MOVE.
    server = DovecotServer(
        extra_config=(
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT "
            "SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND "
            "URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED "
            "I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
            "LIST-STATUS BINARY SPECIAL-USE"
        )
    )
    server.start()
    try:
        yield server
    finally:
        server.close()


async def test_without_move_mail_is_copied_and_flagged_seen_once(
    dovecot_without_move: DovecotServer, make_hub: HubFactory
) -> None:
    dovecot = dovecot_without_move
    client = dovecot.imap_client(REFERRALS)
    assert b"MOVE" not in client.capabilities()
    client.logout()
    for n in range(3):
        dovecot.append(REFERRALS, referral(n))
    hub = await make_hub(edges=Ports(imap_port=dovecot.imap_port))
    try:
        first = await hub.drain()
        second = await hub.drain()  # the flagged mail is not read again
    finally:
        await hub.close()
    assert first.outcomes == {"case": 3}
    assert second.total == 0
    assert dovecot.count(REFERRALS, "Processed") == 3
    client = dovecot.imap_client(REFERRALS)
    client.select_folder("INBOX", readonly=True)
    assert len(client.search(["SEEN"])) == 3 and client.search(["UNSEEN"]) == []
    client.logout()
