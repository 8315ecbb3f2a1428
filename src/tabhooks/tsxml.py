"""Tableau's wire format: one neutral element tree, rendered as XML or JSON.

Tableau speaks two dialects of the same document. XML responses are ``<tsResponse>`` in the
``http://tableau.com/api`` namespace (TSC finds every element with ``t:``-prefixed XPath, so
the namespace is not optional). JSON drops the root, turns attributes and child elements into
keys, and turns repeated children of a list element into an array. Handlers build one
:class:`Element` tree and :func:`render` picks the dialect, so the two can never drift apart.

Requests are sniffed rather than routed on ``Content-Type``: real clients send sign-in XML as
``text/xml``, with no content type, or form-encoded (Tableau's own curl recipe). XML is parsed
with defusedxml, which refuses DTDs and entity declarations (billion laughs, XXE).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import StrEnum

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from tabhooks import jsontext
from tabhooks.errors import BadRequest

NAMESPACE = "http://tableau.com/api"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{NAMESPACE} https://help.tableau.com/samples/en-us/rest_api/ts-api_3_28.xsd"
XML_PROLOG = "<?xml version='1.0' encoding='UTF-8'?>"
XML_CONTENT_TYPE = "application/xml;charset=utf-8"
JSON_CONTENT_TYPE = "application/json;charset=utf-8"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

AttrValue = str | bool | int | None


class Dialect(StrEnum):
    """The two response formats Tableau speaks."""

    #: ``application/xml`` — the default, and what TSC and tabcmd read.
    XML = "xml"
    #: ``application/json`` — chosen only when ``Accept`` names it.
    JSON = "json"

    @property
    def content_type(self) -> str:
        return JSON_CONTENT_TYPE if self is Dialect.JSON else XML_CONTENT_TYPE


class Element:
    """One element of a tsRequest/tsResponse document, independent of dialect.

    A plain slotted class rather than a dataclass: a list of a thousand webhooks builds six
    thousand of these per request, and a dataclass's default factories were most of the cost.

    Args:
        tag: the element name, without namespace.
        attrs: attribute values; ``None`` values are left out of both renderings.
        children: child elements in schema order.
        text: character content (``<restApiVersion>3.28</restApiVersion>``).
        is_list: the element is a list wrapper (``<webhooks>``); in JSON its children become
            arrays keyed by their tag, even when there is only one.
    """

    __slots__ = ("attrs", "children", "is_list", "tag", "text")

    def __init__(
        self,
        tag: str,
        attrs: dict[str, AttrValue] | None = None,
        children: list[Element] | None = None,
        text: str | None = None,
        is_list: bool = False,
    ) -> None:
        self.tag = tag
        self.attrs = attrs if attrs is not None else {}
        self.children = children if children is not None else []
        self.text = text
        self.is_list = is_list

    def __repr__(self) -> str:
        return f"Element({self.tag!r}, {self.attrs!r}, {len(self.children)} children)"

    def child(self, tag: str) -> Element | None:
        """The first child called ``tag``, or ``None``."""
        for node in self.children:
            if node.tag == tag:
                return node
        return None

    def all(self, tag: str) -> Iterator[Element]:
        """Every child called ``tag``, in document order."""
        return (node for node in self.children if node.tag == tag)

    def attr(self, name: str) -> str | None:
        """An attribute as text (JSON booleans become ``"true"``/``"false"``)."""
        value = self.attrs.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def attr_bool(self, name: str) -> bool | None:
        """A boolean attribute, accepting XML text, JSON booleans and Postman's strings."""
        value = self.attrs.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise BadRequest(f"Attribute '{name}' must be true or false, not '{value}'.")


class Prerendered(Element):
    """An element already serialised for both dialects, for rows rendered by the thousand.

    The XML text must be a complete, escaped element (see :func:`escape_attr`); the JSON
    factory returns what :func:`render` would have produced for it (built only when asked).
    """

    __slots__ = ("json_factory", "xml")

    def __init__(self, tag: str, xml: str, json_factory: Callable[[], object]) -> None:
        super().__init__(tag)
        self.xml = xml
        self.json_factory = json_factory


def escape_attr(value: str) -> str:
    """Escape text for a double-quoted XML attribute, exactly as :func:`render` does.

    Most values need nothing, and looking costs a tenth of ``str.translate`` with a mapping
    (about 1.3 µs for a URL), which lists would otherwise pay for every attribute.
    """
    return value.translate(_ATTR_ESCAPES) if needs_escape(value) else value


def needs_escape(text: str) -> bool:
    """Whether :func:`escape_attr` would change ``text`` (or any of the values joined in it).

    Seven substring tests, each a C-speed scan: twice as fast as one regex character class.
    """
    return (
        '"' in text or "&" in text or "<" in text or ">" in text
        or "\n" in text or "\r" in text or "\t" in text
    )  # fmt: skip


#: Characters XML 1.0 cannot carry at all, not even as ``&#N;`` (§2.2), plus lone surrogates.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def scrub(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry written out as ``\\xNN``/``\\uNNNN``.

    For text that echoes what a client sent (an error's detail quoting a query parameter):
    a raw ``\\x08`` there made the whole error document unreadable to XML clients. Stored
    values never hold such characters (request bodies refuse them), so rendering does not pay
    for this check.
    """
    return _NOT_XML.sub(_escaped, text) if _NOT_XML.search(text) else text


def _escaped(match: re.Match[str]) -> str:
    return ascii(match.group())[1:-1]


def element(
    tag: str, *children: Element | None, text: str | None = None, **attrs: AttrValue
) -> Element:
    """Build an element; ``None`` children are skipped so optional parts read naturally."""
    return Element(tag, dict(attrs), [c for c in children if c is not None], text)


def listing(tag: str, items: list[Element], **attrs: AttrValue) -> Element:
    """Build a list wrapper such as ``<webhooks>``."""
    return Element(tag, dict(attrs), items, None, is_list=True)


def timestamp(moment: datetime | None) -> str | None:
    """Format a time exactly as Tableau does (``%Y-%m-%dT%H:%M:%SZ``); TSC parses nothing else.

    ``isoformat`` is used because it is several times faster than ``strftime``, and lists
    format two timestamps per row.
    """
    if moment is None:
        return None
    if moment.tzinfo is not None:
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        moment = moment.replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


# ----------------------------------------------------------------------------- rendering


def choose_dialect(accept: str | None) -> Dialect:
    """JSON only when the client asks for it; ``*/*`` and everything else get XML."""
    if accept and "application/json" in accept.lower():
        return Dialect.JSON
    return Dialect.XML


def render(children: list[Element], dialect: Dialect) -> bytes:
    """Render a tsResponse holding ``children`` in ``dialect``."""
    if dialect is Dialect.JSON:
        body: dict[str, object] = {}
        for node in children:
            _merge_json(body, node, as_array=False)
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    out = [_RESPONSE_OPEN]
    for node in children:
        _write_xml(node, out)
    out.append("</tsResponse>")
    return "".join(out).encode()


_RESPONSE_OPEN = (
    f'{XML_PROLOG}<tsResponse xmlns="{NAMESPACE}" xmlns:xsi="{XSI_NAMESPACE}" '
    f'xsi:schemaLocation="{SCHEMA_LOCATION}">'
)
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
     "\t": "&#09;"}
)  # fmt: skip


def _xml_value(value: AttrValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write_xml(node: Element, out: list[str]) -> None:
    """Serialise straight to text: lists of a thousand webhooks are rendered per request, and
    building an ElementTree first costs several times more than the strings themselves."""
    if isinstance(node, Prerendered):
        out.append(node.xml)
        return
    out.append(f"<{node.tag}")
    for name, value in node.attrs.items():
        if value is not None:
            out.append(f' {name}="{escape_attr(_xml_value(value))}"')
    if not node.children and node.text is None:
        out.append(" />")
        return
    out.append(">")
    if node.text is not None:
        out.append(node.text.translate(_TEXT_ESCAPES))
    for child in node.children:
        _write_xml(child, out)
    out.append(f"</{node.tag}>")


def _json_value(value: AttrValue) -> object:
    # Tableau's JSON keeps booleans as booleans and numbers as strings.
    if isinstance(value, bool):
        return value
    return str(value)


def _to_json(node: Element) -> object:
    if isinstance(node, Prerendered):
        return node.json_factory()
    attrs = {k: _json_value(v) for k, v in node.attrs.items() if v is not None}
    if node.text is not None and not node.children:
        if not attrs:
            return node.text
        return {"value": node.text, **attrs}
    out: dict[str, object] = dict(attrs)
    for child in node.children:
        _merge_json(out, child, as_array=node.is_list)
    return out


def _merge_json(target: dict[str, object], node: Element, *, as_array: bool) -> None:
    value = _to_json(node)
    if as_array:
        bucket = target.setdefault(node.tag, [])
        assert isinstance(bucket, list)
        bucket.append(value)
    else:
        target[node.tag] = value


# ----------------------------------------------------------------------------- parsing


def parse_request(body: bytes) -> Element:
    """Parse a tsRequest body in either dialect into an :class:`Element`.

    The dialect is sniffed from the first significant character. An empty body parses as an
    empty ``tsRequest`` so endpoints whose body is optional need no special case.

    Raises:
        BadRequest: the body is neither well-formed XML nor a JSON object, or the XML uses
            DTDs or entities.
    """
    text = _decode(body).strip()
    if not text:
        return Element("tsRequest")
    if text.startswith("<"):
        return _parse_xml(text)
    if text.startswith("{"):
        return _parse_json(text)
    raise BadRequest("The request body is neither XML (expected '<tsRequest>') nor a JSON object.")


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The request body is not valid UTF-8 (byte {exc.start}).") from exc


#: Deepest element nesting a tsRequest may have (Tableau's nest about 5 deep).
XML_MAX_DEPTH = 32
#: Most elements a tsRequest may have: a 1 MiB body of ``<a/>`` would otherwise be 250,000.
XML_MAX_ELEMENTS = 50_000


def _parse_xml(text: str) -> Element:
    builder = _TreeBuilder()
    parser = safe_et.DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(text)
        parser.close()
    except DefusedXmlException as exc:
        raise BadRequest(
            "The XML request body declares a DTD or entities, which are not allowed."
        ) from exc
    except ET.ParseError as exc:
        raise BadRequest(f"The XML request body is malformed: {exc}.") from exc
    tree = builder.root
    if tree is None:  # pragma: no cover - expat reports a document without a root element
        raise BadRequest("The XML request body has no root element.")
    if tree.tag != "tsRequest":
        raise BadRequest(f"The XML request body must have root <tsRequest>, not <{tree.tag}>.")
    return tree


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _TreeBuilder:
    """An expat target building :class:`Element` directly, with depth and size caps.

    No ElementTree is built first, and the caps are checked as each element opens, so a body
    nested 2,000 deep or holding 250,000 elements is refused before it costs anything (and
    nothing here recurses). An element's text is the character data before its first child,
    stripped, as ``ElementTree``'s ``.text`` would give.
    """

    __slots__ = ("_count", "_stack", "_text", "root")

    def __init__(self) -> None:
        self.root: Element | None = None
        self._stack: list[Element] = []
        self._text: list[str] | None = None
        self._count = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._count += 1
        if self._count > XML_MAX_ELEMENTS:
            raise BadRequest(f"The XML request body has more than {XML_MAX_ELEMENTS} elements.")
        if len(self._stack) >= XML_MAX_DEPTH:
            raise BadRequest(
                f"The XML request body is nested too deeply (at most {XML_MAX_DEPTH} levels)."
            )
        self._close_text()
        node = Element(_local_name(tag), {_local_name(k): v for k, v in attrib.items()})
        if self._stack:
            self._stack[-1].children.append(node)
        else:
            self.root = node
        self._stack.append(node)
        self._text = []

    def data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)

    def end(self, tag: str) -> None:
        self._close_text()
        self._stack.pop()

    def close(self) -> None:
        return None

    def _close_text(self) -> None:
        """Settle the open element's text: only what came before its first child counts."""
        if self._text is not None and self._stack:
            self._stack[-1].text = "".join(self._text).strip() or None
        self._text = None


def _parse_json(text: str) -> Element:
    data = jsontext.loads(text)
    if not isinstance(data, dict):
        raise BadRequest("The JSON request body must be an object.")
    if set(data) == {"tsRequest"} and isinstance(data["tsRequest"], dict):
        data = data["tsRequest"]
    return _from_json("tsRequest", data, depth=0)


_JSON_MAX_DEPTH = 32


def _from_json(tag: str, data: dict[str, object], *, depth: int) -> Element:
    if depth > _JSON_MAX_DEPTH:
        raise BadRequest("The JSON request body is nested too deeply.")
    node = Element(tag)
    for key, value in data.items():
        if isinstance(value, dict):
            node.children.append(_from_json(key, value, depth=depth + 1))
        elif isinstance(value, list):
            node.is_list = True
            for item in value:
                if isinstance(item, dict):
                    node.children.append(_from_json(key, item, depth=depth + 1))
                elif item is not None:
                    node.children.append(Element(key, text=str(item)))
        elif value is None:
            continue
        elif isinstance(value, bool):
            node.attrs[key] = value
        elif isinstance(value, int | float | str):
            node.attrs[key] = str(value)
        else:  # pragma: no cover - json.loads yields nothing else
            raise BadRequest(f"Unsupported JSON value for '{key}'.")
    return node
