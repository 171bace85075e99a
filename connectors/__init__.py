"""The edges, I/O only: IMAP and Maildir mailbox sources, SMTP and Maildir mail senders.

They implement the protocols of :mod:`hub.ports` and know only `hub.ports`, `hub.config`
and `hub.domain`; nothing but `hub.runtime` and the CLI builds them.
"""
