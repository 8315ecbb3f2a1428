"""Reading ``multipart/mixed`` (and ``multipart/form-data``) publish bodies.

Tableau clients publish with ``multipart/mixed``, which Starlette's form parser ignores, and
give the XML payload part ``filename=""``, which would make it an upload. So the body is
streamed through python-multipart's low-level parser here and every part is handed back by
its name, with bytes, filename and content type — whatever the subtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from tabhooks.errors import BadRequest

#: Most parts a publish request may have (Tableau's have two).
MAX_PARTS = 16
#: Longest boundary RFC 2046 allows (§5.1.1); python-multipart refuses 256+ with an error of
#: its own, which used to escape as a 500.
MAX_BOUNDARY_CHARS = 70


@dataclass(slots=True)
class Part:
    """One part of a multipart body."""

    name: str = ""
    filename: str | None = None
    content_type: str = ""
    data: bytearray = field(default_factory=bytearray)


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/")


async def read_parts(request: Request) -> dict[str, Part]:
    """The parts of the request body keyed by name (the first part of each name wins).

    Raises:
        BadRequest: not multipart, no boundary, malformed body, too many parts.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if not content_type.startswith(b"multipart/"):
        raise BadRequest(
            "Publishing needs a multipart/mixed body with request_payload and the file."
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart Content-Type has no boundary.")
    if len(boundary) > MAX_BOUNDARY_CHARS:
        raise BadRequest(
            f"The multipart boundary is {len(boundary)} characters long; RFC 2046 allows at "
            f"most {MAX_BOUNDARY_CHARS}."
        )
    parts: list[Part] = []
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[str, str] = {}

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise BadRequest(f"A publish request may have at most {MAX_PARTS} parts.")
        parts.append(Part())
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[header_field.decode("latin-1").strip().lower()] = header_value.decode(
            "latin-1"
        ).strip()
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        part = parts[-1]
        raw = headers.get("content-disposition", "")
        if raw and raw.split(";", 1)[0].strip().lower().count("=") > 0:
            # Tableau's documented form omits the type: `Content-Disposition: name="..."`.
            raw = f"form-data; {raw}"
        _, disposition = parse_options_header(raw)
        name, filename = disposition.get(b"name", b""), disposition.get(b"filename")
        if b"\x00" in name or (filename is not None and b"\x00" in filename):
            # A stored file name cannot hold it (PostgreSQL text refuses NUL).
            raise BadRequest("A multipart part's name or filename contains a NUL character.")
        part.name = name.decode("utf-8", "replace")
        part.filename = filename.decode("utf-8", "replace") if filename is not None else None
        part.content_type = headers.get("content-type", "")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data.extend(data[start:end])

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
            },
        )
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:  # every python-multipart error, not only parse errors
        raise BadRequest(f"The multipart body is malformed: {exc}.") from exc
    found: dict[str, Part] = {}
    for part in parts:
        found.setdefault(part.name, part)
    return found
