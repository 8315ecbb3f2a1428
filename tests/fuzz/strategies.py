"""Hypothesis strategies for what clients send Tableau routes: XML and JSON bodies, query
strings, headers and uploads (multipart, zip, XML).

Each strategy mixes well-formed requests shaped like the real ones (so the fuzzing gets past
parsing into the services) with the hostile shapes reviewers used: XML nested thousands deep,
JSON with lone surrogates, 5,000-digit numbers or deep nesting, page numbers past 2**62,
half-written filters, multipart boundaries of thousands of characters, corrupt packages and
file names no header can carry as they are.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st

#: Characters that may stand in XML 1.0 text (no C0 controls but tab, LF, CR; the utf-8
#: codec leaves out surrogates).
XML_TEXT = st.characters(
    codec="utf-8",
    exclude_characters="".join(chr(c) for c in range(32) if c not in (9, 10, 13)) + "\ufffe\uffff",
)

ELEMENTS = (
    "tsRequest",
    "credentials",
    "site",
    "user",
    "webhook",
    "webhook-destination",
    "webhook-destination-http",
    "project",
    "workbook",
    "datasource",
    "connection",
    "connectionCredentials",
    "dataQualityWarning",
    "extractRefresh",
    "owner",
)
ATTRIBUTES = (
    "name",
    "password",
    "contentUrl",
    "siteRole",
    "event",
    "url",
    "method",
    "isEnabled",
    "statusChangeReason",
    "id",
    "description",
    "type",
    "message",
    "parentProjectId",
    "personalAccessTokenName",
    "personalAccessTokenSecret",
    "email",
    "fullName",
    "adminMode",
    "showTabs",
    "serverAddress",
    "embed",
)


def _scalar_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(XML_TEXT, max_size=40),
        st.sampled_from(
            [
                "",
                "true",
                "false",
                "Viewer",
                "Creator",
                "DatasourceRefreshFailed",
                "https://example.invalid/hook",
                "-1",
                "0",
                "9" * 400,
            ]
        ),
        st.integers().map(str),
    )


def _xml_element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    @st.composite
    def build(draw: st.DrawFn) -> str:
        tag = draw(
            st.sampled_from(ELEMENTS) | st.from_regex(r"[A-Za-z_][\w.-]{0,12}", fullmatch=True)
        )
        attrs = draw(st.dictionaries(st.sampled_from(ATTRIBUTES), _scalar_text(), max_size=4))
        rendered = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
        inner = "".join(draw(st.lists(children, max_size=3)))
        text = escape(draw(st.text(XML_TEXT, max_size=10)))
        return f"<{tag}{rendered}>{text}{inner}</{tag}>"

    return build()


#: Well-formed XML documents shaped like Tableau requests (and many that are not).
xml_documents = st.recursive(
    st.text(XML_TEXT, max_size=20).map(escape), _xml_element, max_leaves=12
).map(lambda body: f"<tsRequest>{body}</tsRequest>")


@st.composite
def hostile_xml(draw: st.DrawFn) -> str:
    """XML that is malformed, enormous in depth, or tries entity tricks."""
    kind = draw(st.sampled_from(["deep", "entity", "doctype", "truncated", "garbage", "encoding"]))
    if kind == "deep":
        depth = draw(st.integers(min_value=200, max_value=6000))
        return "<tsRequest>" + "<a>" * depth + "</a>" * depth + "</tsRequest>"
    if kind == "entity":
        return (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<tsRequest><credentials name="&b;"/></tsRequest>'
        )
    if kind == "doctype":
        return '<!DOCTYPE r SYSTEM "file:///etc/passwd"><tsRequest/>'
    if kind == "truncated":
        document = draw(xml_documents)
        return document[: draw(st.integers(min_value=0, max_value=len(document)))]
    if kind == "encoding":
        name = draw(st.sampled_from(["utf-16", "latin-1", "ebcdic", "x-unknown", ""]))
        return f'<?xml version="1.0" encoding="{name}"?>' + draw(xml_documents)
    return draw(st.text(max_size=200))


@st.composite
def shaped_xml(draw: st.DrawFn, element: str, attributes: tuple[str, ...]) -> str:
    """``<tsRequest><element a="…" …/></tsRequest>``: the shape a route reads, fuzzed values
    (so the request gets past parsing into the service)."""
    chosen = draw(
        st.dictionaries(st.sampled_from(attributes), _scalar_text(), max_size=len(attributes))
    )
    rendered = "".join(f" {k}={quoteattr(v)}" for k, v in chosen.items())
    inner = draw(st.sampled_from(["", '<site contentUrl=""/>', "<project/>"]))
    return f"<tsRequest><{element}{rendered}>{inner}</{element}></tsRequest>"


def xml_bodies(shape: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[bytes]:
    """XML of any shape, of the route's ``shape`` (when given), and hostile XML."""
    shaped = xml_documents if shape is None else shape
    as_text = st.one_of(shaped, xml_documents, hostile_xml())
    return as_text.map(lambda s: s.encode("utf-8", errors="surrogatepass"))


_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["", "Viewer", "DatasourceRefreshFailed", "https://example.invalid/h"]),
)
json_values = st.recursive(
    _json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(ATTRIBUTES), inner, max_size=4)
    ),
    max_leaves=15,
)


@st.composite
def hostile_json(draw: st.DrawFn) -> bytes:
    """JSON text no ``json.dumps`` writes: lone surrogates, huge numbers, deep nesting."""
    kind = draw(st.sampled_from(["surrogate", "bignum", "deep", "nan", "trailing", "bytes"]))
    if kind == "surrogate":
        escape_ = draw(st.sampled_from(["\\ud800", "\\udfff", "\\ud83d", "\\u0000"]))
        key = draw(st.sampled_from(["name", "event", "url", "user", "since", "secret"]))
        return f'{{"{key}": "x{escape_}y", "webhook": {{"name": "a{escape_}"}}}}'.encode()
    if kind == "bignum":
        digits = draw(st.integers(min_value=20, max_value=6000))
        return f'{{"max_requests": {"9" * digits}, "limit": 1e{digits}}}'.encode()
    if kind == "deep":
        depth = draw(st.integers(min_value=100, max_value=20000))
        return ("[" * depth + "]" * depth).encode()
    if kind == "nan":
        return b'{"response_delay_s": NaN, "fail_percent": Infinity}'
    if kind == "trailing":
        return json.dumps(draw(json_values)).encode() + b"}{"
    return draw(st.binary(max_size=100))


_MARK = "\u2603-fuzz-mark"


def _poisoned(value: Any, escape_: str) -> bytes:
    """``value`` as JSON with its first string value made to hold a lone surrogate,
    so the route's own shape carries it where the service reads it."""
    done = False

    def mark(node: Any) -> Any:
        nonlocal done
        if isinstance(node, str) and not done:
            done = True
            return _MARK
        if isinstance(node, list):
            return [mark(n) for n in node]
        if isinstance(node, dict):
            return {k: mark(v) for k, v in node.items()}
        return node

    text = json.dumps(mark(value), ensure_ascii=False)
    return text.replace(_MARK, f"x{escape_}y").encode()


def json_bodies(shape: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[bytes]:
    """JSON of the route's ``shape`` (any JSON if none), the same with a lone surrogate in
    its first string, and hostile JSON."""
    values = json_values if shape is None else shape
    documents = values.map(lambda v: json.dumps(v).encode())
    poisoned = st.builds(_poisoned, values, st.sampled_from(["\\ud800", "\\udfff", "\\ud83d"]))
    return st.one_of(documents, documents, poisoned, hostile_json())


def _page_number() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-5, max_value=2**70).map(str),
        st.sampled_from(["4611686018427387904", "9" * 4000, "+5", "1_000", "٣", " 1", "0x10", ""]),
        st.text(max_size=8),
    )


@st.composite
def filters(draw: st.DrawFn) -> str:
    """Tableau's ``field:op:value[,...]`` filters, well- and half-written."""
    terms = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        field = draw(
            st.sampled_from(
                [
                    "name",
                    "siteRole",
                    "parentProjectId",
                    "projectName",
                    "ownerName",
                    "status",
                    "jobType",
                ]
            )
            | st.text(max_size=6)
        )
        op = draw(st.sampled_from(["eq", "in", "gt", "has", ""]) | st.text(max_size=4))
        value = draw(
            st.sampled_from(["[", "[a", "[a,b]", "a,b", "]", "", ":", "Default", "[[]]"])
            | st.text(max_size=12)
        )
        terms.append(f"{field}:{op}:{value}")
    return ",".join(terms)


def query_strings() -> st.SearchStrategy[dict[str, str]]:
    """Tableau's listing parameters with any value at all."""
    return st.fixed_dictionaries(
        {},
        optional={
            "pageSize": _page_number(),
            "pageNumber": _page_number(),
            "filter": filters() | st.text(max_size=30),
            "sort": st.sampled_from(["name:asc", "createdAt:desc", "name", "x:y", ":", ""])
            | st.text(max_size=12),
            "fields": st.text(max_size=20),
        },
    )


#: Header values an HTTP client can write at all (no surrounding blanks: h11 refuses them).
_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(
    str.strip
)


def headers() -> st.SearchStrategy[dict[str, str]]:
    """Accept, Content-Type and X-Tableau-Auth as clients (and attackers) send them."""
    return st.fixed_dictionaries(
        {},
        optional={
            "Accept": st.sampled_from(
                [
                    "application/json",
                    "application/xml",
                    "text/xml",
                    "*/*",
                    "text/html",
                    "application/json;q=0.1, application/xml",
                    "",
                    "application/*+json",
                ]
            )
            | _HEADER_TEXT,
            "Content-Type": st.sampled_from(
                [
                    "application/json",
                    "application/xml",
                    "text/xml",
                    "text/plain",
                    "multipart/mixed; boundary=x",
                    "application/json; charset=utf-16",
                    "",
                ]
            )
            | _HEADER_TEXT,
            "X-Tableau-Auth": _HEADER_TEXT,
        },
    )


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@st.composite
def corrupt(draw: st.DrawFn, data: bytes) -> bytes:
    """A zip archive with a few bytes overwritten: anywhere (a bad header or directory), or
    only inside its first member's compressed bytes (a broken deflate stream behind sound
    headers)."""
    if not data:
        return data
    low, high = 0, len(data) - 1
    if draw(st.booleans()):
        member = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
        start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
        low, high = start, max(start, start + member.compress_size - 1)
    out = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        out[draw(st.integers(min_value=low, max_value=high))] = draw(
            st.integers(min_value=0, max_value=255)
        )
    return bytes(out)


@st.composite
def content_files(draw: st.DrawFn, root: str = "workbook") -> tuple[str, bytes]:
    """``(file name, bytes)`` of a workbook (``root`` ``workbook``) or data source upload: the
    XML file, its package (sound, corrupt, or with many members), or noise."""
    ext = "twb" if root == "workbook" else "tds"
    stem = draw(
        st.sampled_from(["Sales", "报表", "a\\", 'quo"te', "line\nfeed", "semi;colon", "x" * 300])
        | st.text(max_size=20)
    )
    document = draw(xml_documents).replace("tsRequest", root).encode()
    kind = draw(st.sampled_from(["xml", "xml", "package", "corrupt", "many", "noise"]))
    if kind == "xml":
        return f"{stem}.{ext}", document
    packaged = _zip_of({f"{stem}.{ext}": document})
    if kind == "package":
        return f"{stem}.{ext}x", packaged
    if kind == "corrupt":
        return f"{stem}.{ext}x", draw(corrupt(packaged))
    if kind == "many":
        count = draw(st.integers(min_value=0, max_value=40))
        return f"{stem}.{ext}x", _zip_of({f"{i}/{stem}.{ext}": document for i in range(count)})
    return f"{stem}.{draw(st.sampled_from([ext, ext + 'x', 'hyper', 'exe', '']))}", draw(
        st.binary(max_size=300)
    )


@st.composite
def multipart_bodies(
    draw: st.DrawFn, payload: bytes, file_part: str, root: str = "workbook"
) -> tuple[bytes, str]:
    """A ``multipart/mixed`` publish body with a fuzzed boundary, file name and file."""
    boundary = draw(
        st.from_regex(r"[A-Za-z0-9'()+_,./:=?-]{1,70}", fullmatch=True)
        | st.integers(min_value=71, max_value=6000).map(lambda n: "b" * n)
    )
    name, data = draw(content_files(root))
    quoted = name.replace("\r", " ").replace("\n", " ").replace('"', "%22")
    parts = [
        (
            b'Content-Disposition: form-data; name="request_payload"\r\n'
            b"Content-Type: text/xml\r\n\r\n" + payload
        ),
        (
            f'Content-Disposition: form-data; name="{file_part}"; filename="{quoted}"\r\n'.encode(
                "utf-8", errors="surrogatepass"
            )
            + b"Content-Type: application/octet-stream\r\n\r\n"
            + data
        ),
    ]
    delimiter = f"--{boundary}".encode()
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"
    subtype = draw(st.sampled_from(["mixed", "form-data"]))
    return body, f"multipart/{subtype}; boundary={boundary}"
