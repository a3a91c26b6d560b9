# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options shared by every Globus module (plugins/module_utils/_globus/clients.py).
    DOCUMENTATION = r"""
options:
  client_id:
    description:
      - The Globus client (confidential app) id used with the client credentials grant.
      - The client acts as the identity C(<client_id>@clients.auth.globus.org); share collections and
        groups with that identity.
    type: str
    required: true
  client_secret_file:
    description:
      - File whose first line is the client secret. Preferred over O(client_secret); keep it mode C(0600).
      - Exactly one of O(client_secret_file) and O(client_secret) is required.
    type: path
  client_secret:
    description:
      - The client secret itself. Prefer O(client_secret_file) (for example from a vaulted file).
      - Never logged nor returned.
    type: str
  token_cache:
    description:
      - JSON file (written with mode C(0600)) that keeps access tokens between runs. A cached token is reused
        until 5 minutes before it expires, so a job that runs every few minutes does not request a new
        token each time.
      - A corrupt or unreadable cache is ignored and rewritten. Without it, every run requests new tokens.
    type: path
  ca_bundle:
    description:
      - CA bundle file used to verify the TLS certificates of the Globus services.
      - Defaults to the system trust store (or E(GLOBUS_SDK_VERIFY_SSL)). Verification cannot be switched off here.
    type: path
  timeout:
    description:
      - HTTP timeout in seconds for each Globus request. The SDK retries 429, 5xx and network errors itself.
    type: float
    default: 60
requirements:
  - globus-sdk >= 4.9, < 5
notes:
  - Service URLs come from the standard globus-sdk environment variables E(GLOBUS_SDK_ENVIRONMENT) and
    E(GLOBUS_SDK_SERVICE_URL_AUTH), E(GLOBUS_SDK_SERVICE_URL_GROUPS), E(GLOBUS_SDK_SERVICE_URL_TRANSFER)
    (the lab inventory sets them to the local emulator).
  - Each service gets a token for exactly the scope it needs, Transfer C(all), Groups C(all) (needed to manage
    groups) and Auth C(view_identities).
  - Globus errors fail the module with C(globus_error) holding C(service), C(http_status), C(code),
    C(message) and C(request_id).
"""
