"""Reading what matters out of a published Tableau file: its connections and views.

``.twb``/``.tds`` are XML; ``.twbx``/``.tdsx`` are zip packages holding one of them (plus
extracts). The XML is parsed with defusedxml (no DTDs, no entities: an XML bomb inside a
workbook is refused like one in a request), and zip members are size-checked before they are
read, so a zip bomb cannot exhaust memory. ``.hyper`` extracts, ``.tde`` and ``.parquet`` are
opaque: they are one extract connection. Flows (``.tfl``/``.tflx``) are stored as is.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from tabhooks.errors import BadRequest

#: Largest .twb/.tds accepted inside a package, uncompressed.
XML_MEMBER_MAX_BYTES = 64 * 1024 * 1024
#: Most entries a package may have.
PACKAGE_MAX_ENTRIES = 10_000

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


def parse(file_name: str, data: bytes, *, declared_type: str | None = None) -> ParsedFile:
    """Parse ``data`` named ``file_name``.

    Raises:
        BadRequest: unsupported type, corrupt package, malformed or malicious XML.
    """
    file_type = (declared_type or file_type_of(file_name)).lower()
    if file_type in ("twb", "tds"):
        return _from_xml(file_type, data)
    if file_type in ("twbx", "tdsx"):
        inner_type = file_type[:3]
        xml_bytes, has_extract = _unpack(data, inner_type)
        parsed = _from_xml(file_type, xml_bytes)
        return ParsedFile(file_type, parsed.connections, parsed.views, has_extract)
    if file_type in _EXTRACT_TYPES:
        if not data:
            raise BadRequest(f"The .{file_type} file is empty.")
        return ParsedFile(file_type, [FoundConnection(type=file_type)], [], True)
    if file_type in FLOW_TYPES:
        if not data:
            raise BadRequest(f"The .{file_type} file is empty.")
        return ParsedFile(file_type)
    raise BadRequest(f"Files of type '.{file_type}' cannot be published here.")


def _unpack(data: bytes, inner_type: str) -> tuple[bytes, bool]:
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
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
        if member.file_size > XML_MEMBER_MAX_BYTES:
            raise BadRequest(
                f"The packaged .{inner_type} is larger than {XML_MEMBER_MAX_BYTES} bytes."
            )
        try:
            with package.open(member) as handle:
                xml_bytes = handle.read(XML_MEMBER_MAX_BYTES + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
            raise BadRequest(f"The package could not be read: {exc}.") from exc
        if len(xml_bytes) > XML_MEMBER_MAX_BYTES:
            raise BadRequest(
                f"The packaged .{inner_type} is larger than {XML_MEMBER_MAX_BYTES} bytes."
            )
        has_extract = any(m.filename.lower().endswith((".hyper", ".tde")) for m in members)
    return xml_bytes, has_extract


def _from_xml(file_type: str, data: bytes) -> ParsedFile:
    try:
        root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True)
    except DefusedXmlException as exc:
        raise BadRequest(
            "The file's XML declares a DTD or entities, which are not allowed."
        ) from exc
    except ET.ParseError as exc:
        raise BadRequest(f"The file's XML is malformed: {exc}.") from exc
    expected = "workbook" if file_type.startswith("twb") else "datasource"
    if _local(root.tag) != expected:
        raise BadRequest(
            f"A .{file_type} file must have root <{expected}>, not <{_local(root.tag)}>."
        )
    return ParsedFile(
        file_type,
        _connections(root),
        _views(root) if expected == "workbook" else [],
        any(_local(e.tag) == "extract" for e in root.iter()),
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _connections(root: ET.Element) -> list[FoundConnection]:
    found: list[FoundConnection] = []
    seen: set[tuple[str, ...]] = set()
    for node in root.iter():
        if _local(node.tag) != "connection":
            continue
        kind = node.get("class", "")
        if kind in _WRAPPER_CLASSES:
            continue
        connection = FoundConnection(
            type=kind,
            server_address=node.get("server", ""),
            server_port=node.get("port", ""),
            dbname=node.get("dbname", ""),
            filename=_file_path(node.get("directory", ""), node.get("filename", "")),
            username=node.get("username", ""),
        )
        key = (connection.type, connection.server_address, connection.server_port,
               connection.dbname, connection.filename, connection.username)  # fmt: skip
        if key not in seen:
            seen.add(key)
            found.append(connection)
    return found


def _file_path(directory: str, filename: str) -> str:
    """Text and Excel connections name a directory and a file; others a full path."""
    if directory and filename and not filename.startswith(("/", "\\")) and ":" not in filename:
        return f"{directory.rstrip('/')}/{filename}"
    return filename or directory


_SHEET_CONTAINERS = {"worksheets": "worksheet", "dashboards": "dashboard", "stories": "story"}


def _views(root: ET.Element) -> list[FoundView]:
    views: list[FoundView] = []
    for container in root:
        sheet_type = _SHEET_CONTAINERS.get(_local(container.tag))
        if sheet_type is None:
            continue
        for sheet in container:
            name = sheet.get("name")
            if name and _local(sheet.tag) in ("worksheet", "dashboard", "story"):
                views.append(
                    FoundView(name, "story" if _local(sheet.tag) == "story" else sheet_type)
                )
    return views
