"""A real globus-sdk API error without an HTTP response, for fake clients in unit tests.

The collection reports only globus-sdk's own errors as Globus failures (``_globus.errors``);
any other exception surfaces as a bug, so fake clients raise this.
"""

import globus_sdk


class ApiError(globus_sdk.GlobusAPIError):
    """A GlobusAPIError with ``http_status``, ``code`` and ``message``, built without a response."""

    def __init__(self, http_status, code, message="error", request_id=None):  # pylint: disable=super-init-not-called
        self.args = (message,)
        self.http_status = http_status
        self.code = code
        self.messages = [message]
        self.errors = []
        self.request_id = request_id
