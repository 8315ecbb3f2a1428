"""Reading what matters out of a published Tableau file: its connections and views.

``.twb``/``.tds`` are XML; ``.twbx``/``.tdsx`` are zip packages holding one of them (plus
extracts). ``.hyper`` extracts, ``.tde`` and ``.parquet`` are opaque: they are one extract
connection. Flows (``.tfl``/``.tflx``) are stored as is.

A file is hostile until read: a 61 KB package can inflate to 60 MB of XML, and a small one
can hold 100,000 sheets. So nothing here builds a tree or holds the inflated XML: the zip
member is inflated 64 KiB at a time into an expat parser (defusedxml: no DTDs, no entities)
whose target keeps only the connections and views, and :class:`ParseLimits` caps the
inflated bytes, the elements and the views, refusing past a cap with a 4xx. Parsing is
CPU-bound and synchronous on purpose; the caller runs it in a worker thread.
"""

from __future__ import annotations

import io
import lzma
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from tabhooks.errors import BadRequest, PayloadTooLarge

#: Most entries a package may have.
PACKAGE_MAX_ENTRIES = 10_000
#: Bytes handed to the XML parser at a time (inflated, or sliced from an unpacked file).
CHUNK_BYTES = 64 * 1024
#: A zip central directory entry's signature: zipfile builds one object per entry before
#: anything can be checked, so their number is bounded by counting these first.
_CENTRAL_DIRECTORY_SIGNATURE = b"PK\x01\x02"


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Caps on what one published file may cost to read (settings ``TABHOOKS_MAX_WORKBOOK_*``
    and ``TABHOOKS_MAX_VIEWS_PER_WORKBOOK``)."""

    #: Largest .twb/.tds XML, as published or once inflated from its package.
    max_xml_bytes: int = 64 * 1024 * 1024
    #: Most XML elements in that document.
    max_elements: int = 1_000_000
    #: Most views (worksheets, dashboards, stories) a workbook may have.
    max_views: int = 1_000


WORKBOOK_TYPES = ("twb", "twbx")
DATASOURCE_TYPES = ("tds", "tdsx", "hyper", "tde", "parquet")
FLOW_TYPES = ("tfl", "tflx")
_EXTRACT_TYPES = ("hyper", "tde", "parquet")
#: Connection classes that only wrap others.
_WRAPPER_CLASSES = frozenset({"federated", ""})


@dataclass(frozen=True, slots=True)
class FoundConnection:
    """One connection as the file describes it."""

    type: str
    server_address: str = ""
    server_port: str = ""
    dbname: str = ""
    filename: str = ""
    username: str = ""


@dataclass(frozen=True, slots=True)
class FoundView:
    name: str
    sheet_type: str  # "worksheet", "dashboard" or "story"


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """What tabhooks keeps of a published file besides its bytes."""

    file_type: str
    connections: list[FoundConnection] = field(default_factory=list)
    views: list[FoundView] = field(default_factory=list)
    has_extracts: bool = False

    @property
    def datasource_type(self) -> str:
        """The ``type`` Tableau reports for a data source: its (first) connection class."""
        return self.connections[0].type if self.connections else "dataengine"


def file_type_of(file_name: str) -> str:
    return file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""


def parse(
    file_name: str,
    data: bytes,
    *,
    declared_type: str | None = None,
    limits: ParseLimits | None = None,
) -> ParsedFile:
    """Parse ``data`` named ``file_name``.

    Raises:
        BadRequest: unsupported type, corrupt package, malformed or malicious XML, more
            elements or views than ``limits`` allow.
        PayloadTooLarge: the XML is larger than ``limits.max_xml_bytes`` (once inflated).
    """
    limits = limits or ParseLimits()
    file_type = (declared_type or file_type_of(file_name)).lower()
    if file_type in ("twb", "tds"):
        if len(data) > limits.max_xml_bytes:
            raise _xml_too_large(file_type, limits)
        view = memoryview(data)
        chunks = (view[i : i + CHUNK_BYTES] for i in range(0, len(view), CHUNK_BYTES))
        return _scan(file_type, chunks, limits)
    if file_type in ("twbx", "tdsx"):
        return _scan_package(file_type, data, limits)
    if file_type in _EXTRACT_TYPES:
        if not data:
            raise BadRequest(f"The .{file_type} file is empty.")
        return ParsedFile(file_type, [FoundConnection(type=file_type)], [], True)
    if file_type in FLOW_TYPES:
        if not data:
            raise BadRequest(f"The .{file_type} file is empty.")
        return ParsedFile(file_type)
    raise BadRequest(f"Files of type '.{file_type}' cannot be published here.")


def _xml_too_large(file_type: str, limits: ParseLimits) -> PayloadTooLarge:
    inner = file_type[:3]
    return PayloadTooLarge(
        f"The .{inner} XML is larger than {limits.max_xml_bytes} bytes "
        "(TABHOOKS_MAX_WORKBOOK_XML_BYTES)."
    )


#: What reading a damaged, encrypted or exotic zip raises, besides BadZipFile.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
)


def _scan_package(file_type: str, data: bytes, limits: ParseLimits) -> ParsedFile:
    inner_type = file_type[:3]
    if data.count(_CENTRAL_DIRECTORY_SIGNATURE) > PACKAGE_MAX_ENTRIES:
        raise BadRequest(f"The package has more than {PACKAGE_MAX_ENTRIES} entries.")
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise BadRequest(f"The packaged file is not a valid zip archive: {exc}.") from exc
    with package:
        members = package.infolist()
        if len(members) > PACKAGE_MAX_ENTRIES:
            raise BadRequest(f"The package has more than {PACKAGE_MAX_ENTRIES} entries.")
        candidates = [
            m
            for m in members
            if m.filename.lower().endswith(f".{inner_type}") and "/" not in m.filename.strip("/")
        ] or [m for m in members if m.filename.lower().endswith(f".{inner_type}")]
        if not candidates:
            raise BadRequest(f"The package contains no .{inner_type} file.")
        member = candidates[0]
        if member.file_size > limits.max_xml_bytes:
            raise _xml_too_large(file_type, limits)
        has_extract = any(m.filename.lower().endswith((".hyper", ".tde")) for m in members)
        try:
            handle = package.open(member)
        except _ZIP_ERRORS as exc:
            raise BadRequest(f"The package could not be read: {exc}.") from exc
        with handle:
            parsed = _scan(file_type, _inflate(handle, file_type, limits), limits)
    return ParsedFile(file_type, parsed.connections, parsed.views, has_extract)


def _inflate(handle: IO[bytes], file_type: str, limits: ParseLimits) -> Iterator[bytes]:
    """The member's bytes, a chunk at a time, counted against the XML cap as they inflate
    (the size the zip declares is checked first, but only inflating tells the truth)."""
    total = 0
    while True:
        try:
            chunk = handle.read(CHUNK_BYTES)
        except _ZIP_ERRORS as exc:
            raise BadRequest(f"The package could not be read: {exc}.") from exc
        if not chunk:
            return
        total += len(chunk)
        if total > limits.max_xml_bytes:
            raise _xml_too_large(file_type, limits)
        yield chunk


def _scan(file_type: str, chunks: Iterable[bytes | memoryview], limits: ParseLimits) -> ParsedFile:
    expected = "workbook" if file_type.startswith("twb") else "datasource"
    scanner = _Scanner(file_type, expected, limits)
    parser = safe_et.DefusedXMLParser(
        target=scanner, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()
    except DefusedXmlException as exc:
        raise BadRequest(
            "The file's XML declares a DTD or entities, which are not allowed."
        ) from exc
    except ET.ParseError as exc:
        raise BadRequest(f"The file's XML is malformed: {exc}.") from exc
    return ParsedFile(
        file_type, scanner.connections, scanner.views if expected == "workbook" else [],
        scanner.has_extract,
    )  # fmt: skip


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_SHEET_CONTAINERS = {"worksheets": "worksheet", "dashboards": "dashboard", "stories": "story"}
_SHEETS = frozenset({"worksheet", "dashboard", "story"})


class _Scanner:
    """An expat target keeping what tabhooks stores and nothing else: connections anywhere,
    views (named sheets in the root's ``worksheets``/``dashboards``/``stories``), whether an
    ``<extract>`` appears; it holds no element and no text, so its memory is the result."""

    def __init__(self, file_type: str, expected_root: str, limits: ParseLimits) -> None:
        self.file_type = file_type
        self.expected_root = expected_root
        self.limits = limits
        self.connections: list[FoundConnection] = []
        self.views: list[FoundView] = []
        self.has_extract = False
        self._seen: set[tuple[str, ...]] = set()
        self._depth = 0
        self._elements = 0
        #: The sheet type of the open depth-1 container, if it is one.
        self._container: str | None = None

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._elements += 1
        if self._elements > self.limits.max_elements:
            raise BadRequest(
                f"The .{self.file_type[:3]} has more than {self.limits.max_elements} XML "
                "elements (TABHOOKS_MAX_WORKBOOK_ELEMENTS)."
            )
        name = _local(tag)
        depth = self._depth
        self._depth += 1
        if depth == 0 and name != self.expected_root:
            raise BadRequest(
                f"A .{self.file_type} file must have root <{self.expected_root}>, not <{name}>."
            )
        if depth == 1:
            self._container = _SHEET_CONTAINERS.get(name)
        elif depth == 2 and self._container is not None and name in _SHEETS:
            self._add_view(name, attrib.get("name"))
        if name == "connection":
            self._add_connection(attrib)
        elif name == "extract":
            self.has_extract = True

    def end(self, tag: str) -> None:
        self._depth -= 1
        if self._depth == 1:
            self._container = None

    def close(self) -> None:
        return None

    def _add_view(self, tag: str, name: str | None) -> None:
        if not name:
            return
        if len(self.views) >= self.limits.max_views:
            raise BadRequest(
                f"The workbook has more than {self.limits.max_views} views "
                "(TABHOOKS_MAX_VIEWS_PER_WORKBOOK)."
            )
        assert self._container is not None
        self.views.append(FoundView(name, "story" if tag == "story" else self._container))

    def _add_connection(self, attrib: dict[str, str]) -> None:
        kind = attrib.get("class", "")
        if kind in _WRAPPER_CLASSES:
            return
        connection = FoundConnection(
            type=kind,
            server_address=attrib.get("server", ""),
            server_port=attrib.get("port", ""),
            dbname=attrib.get("dbname", ""),
            filename=_file_path(attrib.get("directory", ""), attrib.get("filename", "")),
            username=attrib.get("username", ""),
        )
        key = (connection.type, connection.server_address, connection.server_port,
               connection.dbname, connection.filename, connection.username)  # fmt: skip
        if key not in self._seen:
            self._seen.add(key)
            self.connections.append(connection)


def _file_path(directory: str, filename: str) -> str:
    """Text and Excel connections name a directory and a file; others a full path."""
    if directory and filename and not filename.startswith(("/", "\\")) and ":" not in filename:
        return f"{directory.rstrip('/')}/{filename}"
    return filename or directory
