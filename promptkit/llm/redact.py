"""Keep credentials out of spec strings, traces, logs and the cache."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# Query parameters some gateways accept instead of a header; their values are secrets.
_SECRET_QUERY_KEYS = {"key", "api_key", "api-key", "apikey", "token", "access_token"}


def strip_credentials(url: str) -> str:
    """`https://user:pw@host/v1?api-key=x` -> `https://host/v1`; other URLs unchanged."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = "&".join(p for p in parts.query.split("&")
                     if p and p.split("=", 1)[0].lower() not in _SECRET_QUERY_KEYS)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
