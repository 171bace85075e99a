"""A batch that holds the same message twice (same source key, or the same Message-ID
and bytes under another UID) records it once."""

from __future__ import annotations

from hub.ports import InboundItem
from hub.services import cases
from hub.services.intake import ingest_batch
from tests.support.hubs import HubFactory
from tests.support.referrals import referral


async def test_the_same_message_twice_in_one_batch_is_one_case(make_hub: HubFactory) -> None:
    ctx = (await make_hub()).ctx
    raw = referral(1)
    results = await ingest_batch(
        ctx,
        [
            InboundItem("imap:box:7:1", "box", raw, 7, 1),
            InboundItem("imap:box:7:1", "box", raw, 7, 1),  # the same UID again
            InboundItem("imap:box:7:2", "box", raw, 7, 2),  # a second copy delivered
        ],
    )
    assert [(r.outcome.value, r.already) for r in results] == [
        ("case", False),
        ("case", True),
        ("duplicate", False),
    ]
    assert results[0].case_ref == results[1].case_ref is not None
    assert len(await cases.list_cases(ctx, "test")) == 1
    assert len(await cases.list_inbound(ctx, "duplicate", "test")) == 1
