"""The one TLS client context for the mail servers (IMAP and SMTP alike)."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca_file: Path | str | None) -> ssl.SSLContext:
    """Verify the server's certificate and name against the system roots, or against
    ``ca_file`` when one is configured (a private CA); TLS 1.2 at least (RFC 8996 retires
    1.0 and 1.1; RFC 8314 asks mail clients for current TLS)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
