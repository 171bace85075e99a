"""Use cases, one transaction each: ingest a message, deliver the outbox, list cases."""
