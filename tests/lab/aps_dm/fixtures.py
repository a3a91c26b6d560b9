"""Lab fixture shared by the experiment demo step and tests: the DM users have Globus identities.

At a real beamline the users' emails resolve to Globus identities; in the lab the Globus
emulator only knows its own seed, so this registers each DM seed user (username = email)
through the emulator's admin route. Idempotent.
"""

from __future__ import annotations

import json
import os
import urllib.request

import yaml


def dm_seed_users(lab):
    with open(os.path.join(lab.repo, "tests", "lab", "seeds", "aps_dm.yml")) as handle:
        return yaml.safe_load(handle)["users"]


def ensure_globus_identities(lab, users=None):
    admin = lab.endpoints()["globus"]["admin_url"].rstrip("/")
    for user in users or dm_seed_users(lab):
        document = {"username": user["email"], "email": user["email"],
                    "name": "%s %s" % (user["firstName"], user["lastName"]), "organization": "APS user"}
        request = urllib.request.Request(admin + "/identities", data=json.dumps(document).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
