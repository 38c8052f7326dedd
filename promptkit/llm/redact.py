"""Keep credentials out of spec strings, traces, logs, run folders, baselines and the cache.

`strip_credentials` cleans one URL; `public_spec` cleans every URL inside a string (a model
spec such as `openai:m@https://user:key@host/v1`); `public_data` applies `public_spec` to every
string of nested data (a config about to be written to a file meant to be committed).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

# Query parameters some gateways accept instead of a header; their values are secrets. A name
# containing one of these words counts too (x-api-key, client_secret, sig, auth_token, ...).
_SECRET_QUERY_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "sig",
                       "credential")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def is_secret_param(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_QUERY_WORDS)


def strip_credentials(url: str) -> str:
    """`https://user:pw@host/v1?api-key=x` -> `https://host/v1`; other URLs unchanged."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:   # not a number: keep the text after the last ':' out of it entirely
        port = None
    netloc = f"{host}:{port}" if port else host
    query = "&".join(p for p in parts.query.split("&")
                     if p and not is_secret_param(p.split("=", 1)[0]))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def public_spec(text: str) -> str:
    """`text` with every URL in it stripped of credentials (the one function for specs)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: strip_credentials(m.group(0)), text)


def public_data(obj):
    """A copy of nested dicts/lists/tuples with `public_spec` applied to every string."""
    if isinstance(obj, str):
        return public_spec(obj)
    if isinstance(obj, dict):
        return {k: public_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(public_data(v) for v in obj)
    return obj


def split_query(url: str) -> tuple[str, dict[str, str]]:
    """`http://h/v1?api_key=x` -> (`http://h/v1`, {"api_key": "x"}).

    HTTP clients append request paths to a base URL as text, so a query string left in it
    ends up in the middle of the path (`/v1?api_key=x/chat/completions`); it is sent as
    query parameters of every request instead.
    """
    parts = urlsplit(url)
    if not parts.query:
        return url, {}
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment))
    return base, dict(parse_qsl(parts.query, keep_blank_values=True))
