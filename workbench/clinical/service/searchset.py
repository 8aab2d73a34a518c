"""One searchset for every resource: strict/lenient parameters, keyset paging, ``_count=0``, ``_summary=count``.

Paging is keyset ("seek") paging: the next link carries the sort key of the last row served (in an
HMAC-tagged cursor), and the next page starts strictly after it. Unlike OFFSET paging, rows inserted
meanwhile cannot shift a row onto a second page or push one past the end, and every page costs one
index range scan. ``total`` and the page are two statements on one pooled connection (psycopg's
pipeline mode was measured and was not faster here).

Links (``self``, ``next``, every ``fullUrl``) are built from the configured public base URL, never from
the request's ``Host`` header, and list only the parameters the search actually used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus

from starlette.requests import Request

from workbench.clinical.service import _search as search
from workbench.clinical.service.errors import redact

__all__ = ["SearchQuery", "base_url", "handling", "run_searchset"]

COMMON = {"_count", "_cursor", "_summary"}
# URL text that needs no JSON escaping (the usual case: base URL plus a FHIR id), so json.dumps is skipped.
_PLAIN = re.compile(r"[A-Za-z0-9:/.\-_~%?&=+\[\]@!$'()*,;]*")


def base_url(request: Request) -> str:
    """The configured public base URL, else the address this server listens on (never the Host header)."""
    state = request.app.state
    if state.base_url:
        return state.base_url
    server = request.scope.get("server") or ("127.0.0.1", 80)
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in str(host) else host
    scheme = request.scope.get("scheme", "http")
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + ("" if port in (default, None) else f":{port}")


def handling(request: Request) -> str:
    """``strict`` or ``lenient``, from ``Prefer: handling=...`` (RFC 7240), else the configured default."""
    prefer = request.headers.get("prefer", "")
    for part in prefer.replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "handling" and value.strip().strip('"').lower() in ("strict", "lenient"):
            return value.strip().strip('"').lower()
    return request.app.state.config.default_handling


@dataclass
class SearchQuery:
    """What a resource's search handler parsed: SQL conditions, their parameters, the parameters used."""

    where: list[str] = field(default_factory=lambda: ["TRUE"])
    params: list = field(default_factory=list)
    used: list[tuple[str, str]] = field(default_factory=list)

    def add(self, condition: str, *values) -> None:
        self.where.append(condition)
        self.params.extend(values)


def parse_common(request: Request, known: set[str], repeatable: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The non-empty parameters to honour and the unknown ones ignored (lenient) - or a SearchError (strict)."""
    items = request.scope.get("state", {}).get("query_items")  # parsed and checked once, by the guard
    if items is None or request.scope.get("query_string", b"") == b"":
        items = request.query_params.multi_items()
    ignored = search.check_known(items, known | COMMON, repeatable, lenient=handling(request) == "lenient")
    # FHIR: a parameter given with an empty value is ignored (``?gender=&birthdate=`` lists everyone).
    return [(k, v) for k, v in items if v and k not in ignored], ignored


def _bundle(total: int, entries: Sequence[tuple[str, str]], links: list[dict], outcome: dict | None) -> str:
    """A searchset Bundle around resources that are already JSON text (no re-parsing, no models)."""
    head = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": total, "link": links},
                      separators=(",", ":"))  # fmt: skip
    parts = [
        '{"fullUrl":' + (f'"{full_url}"' if _PLAIN.fullmatch(full_url) else json.dumps(full_url))
        + ',"resource":' + text + ',"search":{"mode":"match"}}'
        for full_url, text in entries
    ]
    if outcome is not None:
        parts.append(json.dumps({"resource": outcome, "search": {"mode": "outcome"}}, separators=(",", ":")))
    if not parts:
        return head
    return head[:-1] + ',"entry":[' + ",".join(parts) + "]}"


async def run_searchset(
    request: Request,
    *,
    resource_type: str,
    table: str,
    query: SearchQuery,
    raw: dict[str, str | None],
    ignored: list[str],
    keys: tuple[str, ...],
    descending: bool = False,
    parse_key: Callable[[list[str]], list] = lambda values: values,
    cursor_kind: str | None = None,
) -> tuple[str, list[str]]:
    """Run a search and return (Bundle JSON, ids served). ``keys`` are the keyset columns, last one ``id``."""
    state = request.app.state
    config = state.config
    summary = raw.get("_summary")
    if summary not in (None, "count", "false"):
        raise search.SearchError("_summary", "supported: count (the total only) or false")
    limit = 0 if summary == "count" else search.parse_count(raw.get("_count"), config.default_count, config.max_count)
    kind = cursor_kind or resource_type
    page = SearchQuery(list(query.where), list(query.params))
    if raw.get("_cursor") is not None:
        last = parse_key(search.decode_cursor(state.cursor_key, raw["_cursor"], kind, len(keys)))
        columns = ", ".join(keys)
        marks = ", ".join(["%s"] * len(keys))
        page.add(f"({columns}) {'<' if descending else '>'} ({marks})", *last)
    order = ", ".join(f"{k} DESC" if descending else k for k in keys)
    where, page_where = " AND ".join(query.where), " AND ".join(page.where)
    async with state.pool.connection() as conn:
        if limit:
            total = (await (await conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", query.params)).fetchone())[0]
            rows = await (await conn.execute(
                f"SELECT {', '.join(keys)}, resource::text FROM {table} WHERE {page_where} ORDER BY {order} LIMIT %s",
                [*page.params, limit + 1],
            )).fetchall()  # fmt: skip
        else:
            total = (await (await conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", query.params)).fetchone())[0]
            rows = []
    more = len(rows) > limit
    rows = rows[:limit]
    root = base_url(request)
    path = f"{root}/fhir/{resource_type}"
    used = list(query.used) + [(k, raw[k]) for k in ("_count", "_summary") if raw.get(k) is not None]
    shown = used + ([("_cursor", raw["_cursor"])] if raw.get("_cursor") is not None else [])
    links = [{"relation": "self", "url": redact(path + ("?" + _urlencode(shown) if shown else ""))}]
    if more:
        last_row = rows[-1]
        cursor = search.encode_cursor(state.cursor_key, kind, *(_key_text(v) for v in last_row[: len(keys)]))
        used = used + [("_cursor", cursor)]
        links.append({"relation": "next", "url": redact(path + "?" + _urlencode(used))})
    outcome = None
    if ignored:
        from workbench.clinical.service.errors import operation_outcome

        names = ", ".join(sorted(set(ignored)))[:200]
        outcome = operation_outcome("not-supported", f"ignored unknown search parameter(s): {names}", "warning")
    ids = [row[len(keys) - 1] for row in rows]
    entries = [(f"{path}/{row[len(keys) - 1]}", row[len(keys)]) for row in rows]
    return _bundle(total, entries, links, outcome), ids


_UNRESERVED = re.compile(r"[A-Za-z0-9_.\-~]*")  # what urlencode (quote_plus) leaves as it is


def _urlencode(pairs: Sequence[tuple[str, str]]) -> str:
    """``urllib.parse.urlencode(pairs)``, without calling ``quote_plus`` for text it would not change
    (parameter names, codes, cursors), which made the links cost more than the rest of the Bundle."""
    return "&".join((k if _UNRESERVED.fullmatch(k) else quote_plus(k)) + "="
                    + (v if _UNRESERVED.fullmatch(v) else quote_plus(v)) for k, v in pairs)  # fmt: skip


def _key_text(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
