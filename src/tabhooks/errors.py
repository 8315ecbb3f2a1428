"""Errors that reach clients, shaped like Tableau's.

Every error a client can cause is a :class:`TableauError`; the API layer renders it as
Tableau's envelope (``<error code="401001"><summary/><detail/></error>`` or
``{"error": {"summary", "detail", "code"}}``) with the HTTP status equal to the code's first
three digits. A subclass's docstring is its default detail.

Tree::

    TabhooksError
    └── TableauError                 status, code, summary
        ├── BadRequest               400 400000
        │   ├── InvalidParameter     400 400006
        │   ├── EnabledWithReason    400 400127
        │   ├── UnknownEvent         400 400140
        │   ├── InvalidDestination   400 400141
        │   └── WebhookTestNotFound  400 400113 (Tableau's code for testing a missing webhook)
        ├── NotAuthenticated         401 401000
        ├── SigninFailed             401 401001
        ├── InvalidToken             401 401002
        ├── Forbidden                403 403000
        │   ├── WrongSite            403 403001
        │   ├── AlreadyOnSite        403 403070
        │   ├── UploadQuotaExceeded  403 403180
        │   ├── InboxQuotaExceeded   403 403181
        │   └── WriteForbidden       403 403004
        │       └── CapabilityForbidden  403 4030xx (the method's code: 403019, 403027, ...)
        ├── SiteNotFound             404 404000
        ├── UserNotFound             404 404002
        ├── GroupNotFound            404 404002 (Tableau's code for a group it cannot find)
        ├── WebhookNotFound          404 404060
        ├── ProjectNotFound          404 404005
        ├── WorkbookNotFound         404 404006
        ├── ViewNotFound             404 404011
        ├── DatasourceNotFound       404 404012
        ├── ConnectionNotFound       404 404020
        ├── FlowNotFound             404 404022
        ├── JobNotFound              404 404031
        ├── UploadNotFound           404 404032
        ├── LabelNotFound            404 404057
        ├── TagNotFound              404 404008
        ├── ResourceNotFound         404 404003
        │   ├── UnsupportedVersion   404 404003 (unknown resource, as Tableau answers)
        │   ├── FavoriteNotFound     404 404003 (the item is not among the user's favorites)
        │   ├── PatNotFound          404 404003 (no personal access token of that name)
        │   └── PermissionNotFound   404 404003 (no such capability of that grantee)
        ├── MethodNotAllowed         405 405000
        ├── Conflict                 409 409000
        │   ├── SiteConflict         409 409001
        │   ├── UserConflict         409 409017
        │   ├── GroupConflict        409 409009
        │   ├── GroupMemberConflict  409 409011
        │   ├── ContentConflict      409 409004
        │   ├── RefreshQueued        409 409093
        │   └── WebhookNameConflict  409 409160
        ├── RequestTimeout           408 408000
        ├── PayloadTooLarge          413 413000
        ├── TooManyRequests          429 429000 (with Retry-After)
        └── InternalError            500 500000

Codes Tableau documents are used as documented (400127, 400113, 401001, 403070, 404003,
409093, ...). Where Tableau's tables could not be confirmed the choice is ours and is listed in
``docs/errors.md``.
"""

from __future__ import annotations

import math


class TabhooksError(Exception):
    """Root of every error tabhooks raises on purpose."""


class TableauError(TabhooksError):
    """An error rendered to the client in Tableau's envelope."""

    status: int = 500
    code: str = "500000"
    summary: str = "Internal Server Error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or " ".join((self.__doc__ or self.summary).split())
        super().__init__(self.detail)


class BadRequest(TableauError):
    """The content of the request body is invalid."""

    status, code, summary = 400, "400000", "Bad Request"


class InvalidParameter(BadRequest):
    """A query parameter is invalid."""

    code = "400006"


class EnabledWithReason(BadRequest):
    """statusChangeReason can only be set when isEnabled is false."""

    code = "400127"


class UnknownEvent(BadRequest):
    """The webhook event is not a known Tableau event."""

    code = "400140"


class InvalidDestination(BadRequest):
    """The webhook destination URL is not allowed."""

    code = "400141"


class WebhookTestNotFound(BadRequest):
    """The webhook does not exist, so it cannot be tested."""

    code = "400113"


class NotAuthenticated(TableauError):
    """No authentication credentials were provided."""

    status, code, summary = 401, "401000", "Unauthorized Access"


class SigninFailed(TableauError):
    """Error signing in to Tableau Server"""

    status, code, summary = 401, "401001", "Signin Error"


class InvalidToken(TableauError):
    """Invalid authentication credentials were provided."""

    status, code, summary = 401, "401002", "Unauthorized Access"


class Forbidden(TableauError):
    """The caller is not allowed to do this."""

    status, code, summary = 403, "403000", "Forbidden"


class WrongSite(Forbidden):
    """The site in the URI is not the site this session signed in to."""

    code = "403001"


class AlreadyOnSite(Forbidden):
    """The session is already signed in to that site."""

    code = "403070"


class UploadQuotaExceeded(Forbidden):
    """The user already has as many upload sessions open as the server allows."""

    code, summary = "403180", "Upload quota exceeded"


class InboxQuotaExceeded(Forbidden):
    """The user or site already holds as many inspector bins, or keeps as many captured
    requests, as the server allows."""

    code, summary = "403181", "Inbox quota exceeded"


class WriteForbidden(Forbidden):
    """The caller lacks the permissions this operation needs."""

    code, summary = "403004", "Write forbidden"


class CapabilityForbidden(WriteForbidden):
    """The caller may see the item but lacks the capability this method needs on it.

    Tableau answers each method's refusal with its own code (403027 Update Workbook, 403032
    Update Data Source, 403019 Download Workbook, ...; see ``docs/errors.md``), so the code is
    given with the detail.

    Args:
        code: the method's documented code (``403004`` where Tableau documents none other).
    """

    #: Tableau's summary ("condition") for each code; other codes keep "Write forbidden".
    SUMMARIES = {
        "403007": "Insufficient publishing permission",
        "403019": "Read forbidden",
        "403023": "Update forbidden",
        "403025": "Project update forbidden",
        "403027": "Update forbidden",
        "403028": "Read forbidden",
        "403029": "Update forbidden",
        "403030": "Project update forbidden",
        "403032": "Update forbidden",
        "403098": "Owner update forbidden",
    }

    def __init__(self, detail: str, code: str = "403004") -> None:
        super().__init__(detail)
        self.code = code
        self.summary = self.SUMMARIES.get(code, self.summary)


class SiteNotFound(TableauError):
    """The site does not exist."""

    status, code, summary = 404, "404000", "Site not found"


class UserNotFound(TableauError):
    """The user does not exist on this site."""

    status, code, summary = 404, "404002", "User not found"


class ResourceNotFound(TableauError):
    """The resource specified in the URI does not exist."""

    status, code, summary = 404, "404003", "Resource Not Found"


class WebhookNotFound(TableauError):
    """The webhook does not exist on this site."""

    status, code, summary = 404, "404060", "Webhook Not Found"


class ProjectNotFound(TableauError):
    """The project does not exist on this site."""

    status, code, summary = 404, "404005", "Project not found"


class WorkbookNotFound(TableauError):
    """The workbook does not exist on this site."""

    status, code, summary = 404, "404006", "Workbook not found"


class ViewNotFound(TableauError):
    """The view does not exist on this site."""

    status, code, summary = 404, "404011", "View not found"


class DatasourceNotFound(TableauError):
    """The data source does not exist on this site."""

    status, code, summary = 404, "404012", "Datasource not found"


class ConnectionNotFound(TableauError):
    """The connection does not exist on this workbook or data source."""

    status, code, summary = 404, "404020", "Connection not found"


class FlowNotFound(TableauError):
    """The flow does not exist on this site."""

    status, code, summary = 404, "404022", "Flow not found"


class JobNotFound(TableauError):
    """The job does not exist on this site."""

    status, code, summary = 404, "404031", "Job not found"


class UploadNotFound(TableauError):
    """The upload session does not exist or belongs to someone else."""

    status, code, summary = 404, "404032", "Upload session not found"


class LabelNotFound(TableauError):
    """The data quality warning does not exist on this site."""

    status, code, summary = 404, "404057", "Data quality warning not found"


class ScheduleNotFound(TableauError):
    """The schedule does not exist."""

    status, code, summary = 404, "404026", "Schedule not found"


class TaskNotFound(TableauError):
    """The task does not exist on this site (or is not the caller's to see)."""

    status, code, summary = 404, "404028", "Task not found"


class GroupNotFound(TableauError):
    """The group does not exist on this site."""

    status, code, summary = 404, "404002", "Group not found"


class TagNotFound(TableauError):
    """The item does not carry that tag."""

    status, code, summary = 404, "404008", "Tag not found"


class UnsupportedVersion(ResourceNotFound):
    """The REST API version in the URI is not supported."""


class PatNotFound(ResourceNotFound):
    """The user has no personal access token of that name."""

    summary = "Personal access token not found"


class PermissionNotFound(ResourceNotFound):
    """The grantee has no such capability in that mode on the resource."""

    summary = "Permission not found"


class FavoriteNotFound(ResourceNotFound):
    """The item is not among the user's favorites."""

    summary = "Favorite not found"


class MethodNotAllowed(TableauError):
    """The HTTP method is not supported for this resource."""

    status, code, summary = 405, "405000", "Invalid request method"


class Conflict(TableauError):
    """The request conflicts with the current state of the resource."""

    status, code, summary = 409, "409000", "Resource Conflict"


class SiteConflict(Conflict):
    """A site with that name or contentUrl already exists."""

    code = "409001"


class UserConflict(Conflict):
    """A user with that name already exists on this site."""

    code = "409017"


class ContentConflict(Conflict):
    """Content with that name already exists in the project; publish with overwrite=true."""

    code = "409004"


class RefreshQueued(Conflict):
    """Job for 'extract' is already queued. Not queuing a duplicate."""

    code = "409093"


class ScheduleNameConflict(Conflict):
    """A schedule with that name already exists on the server."""

    code = "409021"


class GroupConflict(Conflict):
    """A group with that name already exists on this site."""

    code = "409009"


class GroupMemberConflict(Conflict):
    """The user is already a member of the group."""

    code = "409011"


class WebhookNameConflict(Conflict):
    """A webhook with that name already exists on this site."""

    code = "409160"


class RequestTimeout(TableauError):
    """The request body did not arrive in time."""

    status, code, summary = 408, "408000", "Request Timeout"


class PayloadTooLarge(TableauError):
    """The request body is larger than this server accepts."""

    status, code, summary = 413, "413000", "Payload Too Large"


class TooManyRequests(TableauError):
    """Too many requests; try again after the number of seconds in the Retry-After header."""

    status, code, summary = 429, "429000", "Too Many Requests"

    def __init__(self, detail: str | None = None, *, retry_after_s: float) -> None:
        super().__init__(detail)
        #: Whole seconds to wait (at least 1), sent as ``Retry-After``.
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class InternalError(TableauError):
    """The server encountered an error and cannot complete your request. Contact your server
    administrator."""

    status, code, summary = 500, "500000", "Internal Server Error"
