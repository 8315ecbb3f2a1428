"""Nothing a client sends can crash or freeze the server (issue 14), against the real server.

One test per finding: every input that used to answer 500 (and log thousands of traceback
lines) now gets Tableau's error envelope with a 4xx and leaves no traceback in the server's
output; a ``multipart/*`` Content-Type no longer lifts the body limit off the upload routes;
publishing parses off the event loop under caps; upload sessions expire, are capped per user
and survive a refused publish.
"""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support.rest import NS, Rest, multipart
from tests.support.server import ServerProcess

WORKBOOK = b"<workbook><worksheets><worksheet name='Sheet 1'/></worksheets></workbook>"
PASSWORD = "Hostile-input-pw-123!"


def zipped(xml: bytes, name: str = "book.twb") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(name, xml)
    return buffer.getvalue()


def corrupt_deflate() -> bytes:
    raw = bytearray(zipped(WORKBOOK * 50))
    start = 30 + len("book.twb")  # the member's compressed data follows its local header
    for i in range(start + 10, start + 60):
        raw[i] ^= 0x55
    return bytes(raw)


#: ``attachment`` with either a plain quoted-string name (no quoted-pairs) or ``filename*``.
STRICT_DISPOSITION = re.compile(
    r"attachment; (?:filename=\"[ !#-\[\]-~]*\""
    r"|filename\*=UTF-8''(?:[A-Za-z0-9!#$&+.^_`|~-]|%[0-9A-F]{2})+)"
)


def assert_envelope(response: httpx.Response, status: int, code: str) -> None:
    """The documented error shape, in the dialect asked for, with the expected code."""
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("application/json"):
        error = response.json()["error"]
        assert (error["code"], bool(error["summary"]), bool(error["detail"])) == (code, True, True)
    else:
        node = ET.fromstring(response.content).find("t:error", NS)
        assert node is not None, response.text
        assert node.get("code") == code
        assert node.findtext("t:summary", namespaces=NS)
        assert node.findtext("t:detail", namespaces=NS)
    assert "Traceback" not in response.text


class Log:
    """What the server printed since the last look: no traceback, no unexpected failure."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.seen = len(server.output)

    def assert_quiet(self) -> None:
        # The log is pumped from the server's stdout by a thread; a health round trip
        # after the request gives it time to catch up with anything the request printed.
        httpx.get(f"{self.server.base_url}/tabhooks/v1/health", timeout=30)
        time.sleep(0.2)
        printed = "".join(self.server.output[self.seen :])
        self.seen = len(self.server.output)
        for sign in ("Traceback", "action=request_failed", "Exception in ASGI application"):
            assert sign not in printed, printed[-3000:]


def started(workdir: Path, url: str, **env: str) -> ServerProcess:
    return ServerProcess(url, workdir, extra_env={f"TABHOOKS_{k}": v for k, v in env.items()})


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[Rest]:
    rest = Rest.sign_in(server)
    yield rest
    rest.close()


@pytest.fixture(scope="module")
def relay_id(server: ServerProcess, admin: Rest) -> str:
    response = httpx.post(
        f"{server.base_url}/tabhooks/v1/relays",
        json={"name": "hostile", "targets": [{"type": "http", "url": "http://127.0.0.1:9/x"}]},
        headers={"X-Tableau-Auth": admin.token},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# ---------------------------------------------------------------------------- 1. no 500s

SURROGATE = b'"\\ud800"'
NUL_FILENAME = multipart(
    [("request_payload", "", "text/xml", b'<tsRequest><workbook name="nul"/></tsRequest>'),
     ("tableau_workbook", "x\x00.twb", "application/octet-stream", WORKBOOK)]
)  # fmt: skip
MULTIPART_WB = [("Content-Type", "multipart/mixed; boundary=" + "b" * 5000)]

# (id, method, path, extra headers, body, status, code). {site} is the admin's site, {relay}
# a relay route, {api} /api/3.28.
CRASHERS = [
    ("xml-nested-2000-deep-signin", "POST", "{api}/auth/signin", [],
     b"<tsRequest>" + b"<a>" * 2000 + b"</a>" * 2000 + b"</tsRequest>", 400, "400000"),
    ("lone-surrogate-webhook-create", "POST", "{api}/sites/{site}/webhooks", [],
     b'{"webhook": {"name": ' + SURROGATE + b', "event": "WorkbookCreated", '
     b'"webhook-destination": {"webhook-destination-http": {"method": "POST", '
     b'"url": "https://example.com/x"}}}}', 400, "400000"),
    ("lone-surrogate-user-add", "POST", "{api}/sites/{site}/users", [],
     b'{"user": {"name": ' + SURROGATE + b', "siteRole": "Viewer"}}', 400, "400000"),
    ("lone-surrogate-bin-create", "POST", "/tabhooks/v1/inbox/bins",
     [("Content-Type", "application/json")], b'{"name": ' + SURROGATE + b"}", 400, "400000"),
    ("lone-surrogate-relay-inbound", "POST", "/relay/{relay}",
     [("Content-Type", "application/json")],
     b'{"event_type": "WorkbookCreated", "resource_name": ' + SURROGATE + b"}", 400, "400000"),
    ("5000-digit-number", "POST", "{api}/sites/{site}/users", [],
     b'{"user": {"name": ' + b"7" * 5000 + b', "siteRole": "Viewer"}}', 400, "400000"),
    ("5000-digit-number-bin", "POST", "/tabhooks/v1/inbox/bins",
     [("Content-Type", "application/json")], b'{"max_requests": ' + b"7" * 5000 + b"}", 400,
     "400000"),
    ("huge-page-number-users", "GET", "{api}/sites/{site}/users?pageNumber=4611686018427387904",
     [], b"", 400, "400006"),
    ("huge-page-number-workbooks", "GET",
     "{api}/sites/{site}/workbooks?pageNumber=4611686018427387904", [], b"", 400, "400006"),
    ("unclosed-filter-list-users", "GET", "{api}/sites/{site}/users?filter=name:eq:[", [], b"",
     400, "400006"),
    ("unclosed-filter-list-workbooks", "GET", "{api}/sites/{site}/workbooks?filter=name:eq:[",
     [], b"", 400, "400006"),
    ("5000-char-multipart-boundary", "POST", "{api}/sites/{site}/workbooks", MULTIPART_WB,
     b"--x\r\n", 400, "400000"),
    ("100k-brackets-relay-inbound", "POST", "/relay/{relay}",
     [("Content-Type", "application/json")], b"[" * 100_000, 400, "400000"),
    ("deep-json-object-relay-inbound", "POST", "/relay/{relay}", [],
     b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400, "400000"),
    # PostgreSQL text cannot hold a NUL: each of these was a DataError there.
    ("nul-in-filter", "GET", "{api}/sites/{site}/users?filter=name:eq:a%00b", [], b"", 400,
     "400000"),
    ("nul-in-path", "GET", "{api}/sites/{site}/workbooks/a%00b", [], b"", 400, "400000"),
    ("nul-in-json-user-add", "POST", "{api}/sites/{site}/users", [],
     b'{"user": {"name": "a\\u0000b", "siteRole": "Viewer"}}', 400, "400000"),
    ("nul-in-json-bin-create", "POST", "/tabhooks/v1/inbox/bins",
     [("Content-Type", "application/json")], b'{"name": "a\\u0000b"}', 400, "400000"),
    ("nul-in-multipart-filename", "POST", "{api}/sites/{site}/workbooks?workbookType=twb",
     [("Content-Type", NUL_FILENAME[1])], NUL_FILENAME[0], 400, "400000"),
    # XML 1.0 cannot carry C0 controls: an error quoting one was unreadable to XML clients,
    # and a stored name holding one would make every later listing unreadable.
    ("control-char-echoed-in-error", "GET", "{api}/sites/{site}/users?pageSize=%08", [], b"",
     400, "400006"),
    ("control-char-in-json-name", "POST", "{api}/sites/{site}/users", [],
     b'{"user": {"name": "a\\u0008b", "siteRole": "Viewer"}}', 400, "400000"),
]  # fmt: skip


@pytest.mark.parametrize("dialect", ["xml", "json"])
@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code"),
    [case[1:] for case in CRASHERS],
    ids=[case[0] for case in CRASHERS],
)
def test_input_that_used_to_500_gets_a_4xx_envelope_and_no_traceback(
    server: ServerProcess,
    admin: Rest,
    relay_id: str,
    dialect: str,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    status: int,
    code: str,
) -> None:
    log = Log(server)
    url = server.base_url + path.format(api="/api/3.28", site=admin.site_id, relay=relay_id)
    sent = {"X-Tableau-Auth": admin.token, **dict(headers)}
    if dialect == "json":
        sent["Accept"] = "application/json"
    response = httpx.request(method, url, content=body, headers=sent, timeout=60)
    assert_envelope(response, status, code)
    log.assert_quiet()


def test_nul_in_a_dashboard_form_is_400(server: ServerProcess) -> None:
    """The sign-in form of the dashboard: a NUL in the name used to reach PostgreSQL."""
    log = Log(server)
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        page = browser.get("/ui/login")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match is not None, page.text
        response = browser.post(
            "/ui/login",
            content=f"csrf={match.group(1)}&name=admin%00x&password=x&site=".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert_envelope(response, 400, "400000")
    log.assert_quiet()


def test_malformed_webhook_secret_is_400(server: ServerProcess, admin: Rest) -> None:
    """Found by the fuzzing battery: a secret that is not base64 was a ValueError (a 500)."""
    log = Log(server)
    webhook_id = admin.create_webhook(
        f"secret-{uuid.uuid4().hex[:8]}", "WorkbookCreated", "http://127.0.0.1:9/hook"
    )
    response = httpx.post(
        f"{admin.ops_url}/webhooks/{webhook_id}/secret",
        json={"secret": "0"},
        headers={"X-Tableau-Auth": admin.token},
    )
    assert_envelope(response, 400, "400000")
    admin.delete_webhook(webhook_id)
    log.assert_quiet()


def test_corrupt_deflate_stream_in_twbx_is_400(server: ServerProcess, admin: Rest) -> None:
    log = Log(server)
    before = admin.total("workbooks")
    response = admin.publish(
        "workbooks",
        '<tsRequest><workbook name="corrupt"/></tsRequest>',
        ("tableau_workbook", "corrupt.twbx", corrupt_deflate()),
    )
    assert_envelope(response, 400, "400000")
    assert admin.total("workbooks") == before
    log.assert_quiet()


@pytest.mark.parametrize(
    ("workbook_name", "part_filename", "stored"),
    [
        ("报表", "", "报表.twb"),  # Chinese: the header used to be unencodable (500)
        ("line\nfeed", "", "line\nfeed.twb"),  # a line feed used to drop the connection
        ("backslash", "abc\\\\", "abc\\"),  # a trailing backslash used to escape the quote
        ('quote"d', "", 'quote"d.twb'),
    ],
    ids=["chinese", "line-feed", "trailing-backslash", "double-quote"],
)
def test_download_of_any_file_name_names_it_in_rfc_6266_form(
    server: ServerProcess, admin: Rest, workbook_name: str, part_filename: str, stored: str
) -> None:
    log = Log(server)
    escaped = workbook_name.replace("\n", "&#10;").replace('"', "&quot;")
    published = admin.publish(
        "workbooks",
        f'<tsRequest><workbook name="{escaped}"/></tsRequest>',
        ("tableau_workbook", part_filename, WORKBOOK),
        params={"workbookType": "twb", "overwrite": "true"},
    )
    assert published.status_code == 201, published.text
    workbook_id = published.json()["workbook"]["id"]
    response = admin.call("GET", f"workbooks/{workbook_id}/content")
    assert response.status_code == 200
    assert response.content == WORKBOOK
    header = response.headers["content-disposition"]
    # RFC 6266 exactly: a quoted name without quote or backslash, or an RFC 8187 ext-value.
    assert STRICT_DISPOSITION.fullmatch(header), header
    parsed = Message()
    parsed["Content-Disposition"] = header  # how TSC reads the name it saves to
    assert parsed.get_filename() == stored, header
    log.assert_quiet()


# ------------------------------------------------------- 2. multipart does not lift the limit


def test_multipart_content_type_does_not_lift_the_body_limit(
    server: ServerProcess, admin: Rest
) -> None:
    log = Log(server)
    big = b"x" * (2 * 1024 * 1024)  # over TABHOOKS_MAX_REQUEST_BYTES, under the upload limit
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    signin = httpx.post(f"{server.api()}/auth/signin", content=big, headers=multipart, timeout=60)
    assert_envelope(signin, 413, "413000")

    def stream() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        for _ in range(32):
            yield b"x" * 65536

    streamed = httpx.post(
        f"{server.api()}/auth/signin", content=stream(), headers=multipart, timeout=60
    )
    assert streamed.status_code == 413
    bins = httpx.post(
        f"{server.base_url}/tabhooks/v1/inbox/bins",
        content=big,
        headers={**multipart, "X-Tableau-Auth": admin.token},
        timeout=60,
    )
    assert_envelope(bins, 413, "413000")
    # The upload routes keep the upload limit: a 2 MiB extract publishes.
    published = admin.publish(
        "datasources",
        '<tsRequest><datasource name="big extract"/></tsRequest>',
        ("tableau_datasource", "big.hyper", big),
        params={"overwrite": "true"},
    )
    assert published.status_code == 201, published.text
    log.assert_quiet()


# ------------------------------------------------------------------------- 3. publishing


def test_health_answers_while_a_hostile_workbook_is_parsed(
    server: ServerProcess, admin: Rest
) -> None:
    """A few KB inflating to 6 MB of 1.5 million elements: parsed in a worker thread, so the
    loop keeps answering; the element cap (1,000,000 by default) refuses it.

    Only health checks sent after the whole publish body was on the wire count: from then on
    the server was parsing, and with the parse on the event loop every such check waited for
    it to finish, so at most one could be answered before the publish was.
    """
    log = Log(server)
    body, content_type = multipart(
        [
            ("request_payload", "", "text/xml", b'<tsRequest><workbook name="hostile"/></tsRequest>'),
            ("tableau_workbook", "hostile.twbx", "application/octet-stream",
             zipped(b"<workbook>" + b"<a/>" * 1_500_000 + b"</workbook>")),
        ]
    )  # fmt: skip
    body_sent = threading.Event()
    finished: list[float] = []
    outcome: list[httpx.Response] = []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16384):
            yield body[start : start + 16384]
        body_sent.set()  # runs when the client asks for more: the last chunk is written

    def publish() -> None:
        outcome.append(
            admin.call("POST", "workbooks", chunks(), json_out=True,
                       headers={"Content-Type": content_type})
        )  # fmt: skip
        finished.append(time.monotonic())

    health = f"{server.base_url}/tabhooks/v1/health"
    answered: list[tuple[float, float]] = []  # (sent, answered) of checks sent after the body
    publisher = threading.Thread(target=publish)
    with httpx.Client(timeout=120) as client:
        client.get(health)  # connection set up before the clock starts
        publisher.start()
        while publisher.is_alive():
            sent = time.monotonic()
            assert client.get(health).status_code == 200
            if body_sent.is_set():
                answered.append((sent, time.monotonic()))
    publisher.join()
    assert body_sent.is_set()
    during = sorted(done - sent for sent, done in answered if done < finished[0])
    print(f"\nhealth answered {len(during)} times while the workbook was parsed", end="")
    if during:
        print(
            f"; slowest {during[-1] * 1000:.0f} ms, median {during[len(during) // 2] * 1000:.0f} ms"
        )
    assert len(during) >= 3
    assert_envelope(outcome[0], 400, "400000")
    assert "TABHOOKS_MAX_WORKBOOK_ELEMENTS" in outcome[0].text
    log.assert_quiet()


@pytest.fixture(scope="module")
def capped(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with small publish and upload caps."""
    workdir = tmp_path_factory.mktemp("capped")
    running = started(
        workdir,
        database_url_for(backend, request, workdir),
        MAX_WORKBOOK_XML_BYTES=str(4 * 1024 * 1024),
        MAX_WORKBOOK_ELEMENTS="20000",
        MAX_VIEWS_PER_WORKBOOK="50",
        MAX_UPLOAD_SESSIONS_PER_USER="3",
        MAX_UPLOAD_SESSION_BYTES="200000",
        MAX_UPLOAD_BYTES_PER_USER="300000",
    ).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def capped_admin(capped: ServerProcess) -> Iterator[Rest]:
    rest = Rest.sign_in(capped)
    yield rest
    rest.close()


def sheets(count: int) -> bytes:
    body = b"".join(b'<worksheet name="s%d"/>' % i for i in range(count))
    return b"<workbook><worksheets>" + body + b"</worksheets></workbook>"


@pytest.mark.parametrize(
    ("xml", "status", "code", "setting"),
    [
        (b"<workbook>" + b" " * 5_000_000 + b"</workbook>", 413, "413000",
         "TABHOOKS_MAX_WORKBOOK_XML_BYTES"),
        (b"<workbook>" + b"<a/>" * 20_001 + b"</workbook>", 400, "400000",
         "TABHOOKS_MAX_WORKBOOK_ELEMENTS"),
        (sheets(51), 400, "400000", "TABHOOKS_MAX_VIEWS_PER_WORKBOOK"),
        (sheets(100_000), 400, "400000", "TABHOOKS_MAX_VIEWS_PER_WORKBOOK"),
    ],
    ids=["inflated-size", "elements", "views", "100k-sheets"],
)  # fmt: skip
def test_publish_over_a_cap_is_refused_and_stores_nothing(
    capped: ServerProcess, capped_admin: Rest, xml: bytes, status: int, code: str, setting: str
) -> None:
    log = Log(capped)
    package = zipped(xml)
    assert len(package) < 400_000
    before = capped_admin.total("workbooks")
    response = capped_admin.publish(
        "workbooks",
        '<tsRequest><workbook name="capped"/></tsRequest>',
        ("tableau_workbook", "capped.twbx", package),
    )
    assert_envelope(response, status, code)
    assert setting in response.text
    assert capped_admin.total("workbooks") == before
    log.assert_quiet()


def test_publish_at_the_view_cap_is_accepted(capped: ServerProcess, capped_admin: Rest) -> None:
    response = capped_admin.publish(
        "workbooks",
        '<tsRequest><workbook name="fifty"/></tsRequest>',
        ("tableau_workbook", "fifty.twbx", zipped(sheets(50))),
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["workbook"]["views"]["view"]) == 50


# ----------------------------------------------------------------------- 4. upload sessions


def publisher(server: ServerProcess, admin: Rest) -> Rest:
    """A fresh Creator, so that each test counts only its own upload sessions."""
    name = f"uploader-{uuid.uuid4().hex[:8]}"
    admin.add_user(name, "Creator", PASSWORD)
    return Rest.sign_in(server, name, PASSWORD)


def start_upload(rest: Rest) -> httpx.Response:
    return rest.call("POST", "fileUploads", json_out=True)


def append(rest: Rest, upload_id: str, data: bytes) -> httpx.Response:
    body, content_type = multipart(
        [("request_payload", "", "text/xml", b""), ("tableau_file", "file", "application/octet-stream", data)]
    )  # fmt: skip
    return rest.call(
        "PUT", f"fileUploads/{upload_id}", body, json_out=True,
        headers={"Content-Type": content_type},
    )  # fmt: skip


def commit(rest: Rest, upload_id: str, payload: str) -> httpx.Response:
    return rest.publish(
        "workbooks", payload, None, params={"uploadSessionId": upload_id, "workbookType": "twb"}
    )


def session_id(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["fileUpload"]["uploadSessionId"])


def test_upload_sessions_per_user_are_capped_in_number_and_bytes(
    capped: ServerProcess, capped_admin: Rest
) -> None:
    log = Log(capped)
    rest = publisher(capped, capped_admin)
    first, second, third = (session_id(start_upload(rest)) for _ in range(3))
    assert_envelope(start_upload(rest), 403, "403180")
    # One session holds at most 200,000 bytes ...
    assert append(rest, first, b"a" * 150_000).status_code == 200
    over_session = append(rest, first, b"a" * 60_000)
    assert_envelope(over_session, 413, "413000")
    assert "TABHOOKS_MAX_UPLOAD_SESSION_BYTES" in over_session.text
    # ... and all of one user's sessions 300,000 together.
    assert append(rest, second, b"b" * 140_000).status_code == 200
    over_user = append(rest, second, b"b" * 20_000)
    assert_envelope(over_user, 413, "413000")
    assert "TABHOOKS_MAX_UPLOAD_BYTES_PER_USER" in over_user.text
    # Another user is not held back by this one's sessions.
    other = publisher(capped, capped_admin)
    assert append(other, session_id(start_upload(other)), b"c" * 150_000).status_code == 200
    # Committing a session frees its place.
    assert append(rest, third, WORKBOOK).status_code == 200
    assert commit(rest, third, '<tsRequest><workbook name="freed"/></tsRequest>').status_code == 201
    session_id(start_upload(rest))
    log.assert_quiet()


def test_refused_publish_leaves_its_upload_session_for_a_retry(
    capped: ServerProcess, capped_admin: Rest
) -> None:
    log = Log(capped)
    rest = publisher(capped, capped_admin)
    upload = session_id(start_upload(rest))
    assert append(rest, upload, WORKBOOK).status_code == 200
    nameless = commit(rest, upload, "<tsRequest><workbook/></tsRequest>")
    assert_envelope(nameless, 400, "400000")
    nowhere = commit(
        rest, upload,
        '<tsRequest><workbook name="retry"><project id="00000000-0000-0000-0000-000000000000"/>'
        "</workbook></tsRequest>",
    )  # fmt: skip
    assert_envelope(nowhere, 404, "404005")
    committed = commit(rest, upload, '<tsRequest><workbook name="retry"/></tsRequest>')
    assert committed.status_code == 201, committed.text
    assert [v["name"] for v in committed.json()["workbook"]["views"]["view"]] == ["Sheet 1"]
    # Consumed once it succeeded.
    again = commit(rest, upload, '<tsRequest><workbook name="retry again"/></tsRequest>')
    assert_envelope(again, 404, "404032")
    log.assert_quiet()


def test_upload_session_with_a_bad_file_survives_the_refusal(
    capped: ServerProcess, capped_admin: Rest
) -> None:
    rest = publisher(capped, capped_admin)
    upload = session_id(start_upload(rest))
    assert append(rest, upload, b"<workbook><unclosed></workbook>").status_code == 200
    for _ in range(2):  # refused for its file both times: the session was not consumed
        refused = commit(rest, upload, '<tsRequest><workbook name="bad file"/></tsRequest>')
        assert_envelope(refused, 400, "400000")
        assert "malformed" in refused.text


@pytest.fixture(scope="module")
def expiring(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server whose upload sessions live 3.6 s, one per user."""
    workdir = tmp_path_factory.mktemp("expiring")
    running = started(
        workdir,
        database_url_for(backend, request, workdir),
        UPLOAD_SESSION_TTL_HOURS="0.001",
        MAX_UPLOAD_SESSIONS_PER_USER="1",
    ).start()
    yield running
    running.stop()


def test_abandoned_upload_session_expires_and_frees_its_place(expiring: ServerProcess) -> None:
    log = Log(expiring)
    rest = Rest.sign_in(expiring)
    try:
        upload = session_id(start_upload(rest))
        assert append(rest, upload, WORKBOOK).status_code == 200
        assert_envelope(start_upload(rest), 403, "403180")
        time.sleep(5)  # past TABHOOKS_UPLOAD_SESSION_TTL_HOURS (3.6 s)
        assert_envelope(append(rest, upload, WORKBOOK), 404, "404032")
        gone = commit(rest, upload, '<tsRequest><workbook name="late"/></tsRequest>')
        assert_envelope(gone, 404, "404032")
        session_id(start_upload(rest))  # the expired session no longer counts
    finally:
        rest.close()
    log.assert_quiet()
