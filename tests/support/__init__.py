"""Real-service test infrastructure: Dovecot, an SMTP front end, PostgreSQL, faults.

We never mock mail servers or databases; these helpers start real ones (or connect
to the machine's PostgreSQL) so tests exercise real protocol behaviour.
"""
