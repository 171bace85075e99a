"""Real-service test infrastructure: Dovecot, an SMTP front end, PostgreSQL, faults.

We never mock mail servers or databases; these helpers start real ones (or use the
machine's PostgreSQL) so tests exercise real protocol behaviour.

- ``dovecot.DovecotServer``: private Dovecot (IMAP, IMAPS, LMTP) in /tmp/mh-*.
- ``smtp_server.SmtpServer``: aiosmtpd that delivers hub.test mail via LMTP.
- ``fault_proxy.FaultProxy``: TCP proxy with cut / block / cut_after_bytes.
- ``postgres``: create_database() / drop_database() on 127.0.0.1:5432.
- ``services``: require() (skip locally, fail on CI) and free_port().
Fixtures wiring them together live in tests/conftest.py.
"""
