#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Check what a datasync job needs before it runs, one row per check
version_added: "0.2.0"
description:
  - Checks, on the host where a job runs and as the account it runs as, everything the job needs, and returns
    one row per check (RV(rows)) with its result and, for a failure, how to fix it.
  - Credential files are judged by the collection's one secret reader, as the job reads them (a regular file,
    not a symlink, owned by the running user or root, mode V(0600) or V(0400)).
  - Destination folders must be writable and have at least O(min_free) available; one that does not exist yet
    passes when its nearest existing parent is writable (the job makes it).
  - Web services are reached with TLS verified; the SMTP relay must accept the sender (and the first
    recipient; nothing is sent); an SSH source must have its host key in the job's known_hosts and accept the
    job's key; an rsync daemon must greet, and with O(rsync_daemons[].pools) accept the job's user and password file for
    each pool's module and list its path (one level, C(rsync --list-only) as the job lists; nothing is transferred); PVs must
    connect and answer.
  - The Globus app must get a token with its client secret (no token cache), have the manager or admin role
    on the root group, and list (and, as asked, make a folder in and manage the access rules of) each collection.
    A probe folder C(.datasync-preflight-<random>) is made and deleted again by a delete task.
  - Any failed row fails the module; RV(rows) and RV(errors) are returned either way.
author: sciops datasync maintainers (@sciops)
requirements:
  - globus-sdk >= 4.9, < 5 (for O(globus))
  - caproto (for O(pvs))
  - ssh (for O(ssh_sources))
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode no probe folder is made on a collection; that row is V(skipped). Everything else only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: The probe folder is deleted again; the module never reports a change.
options:
  job:
    description: The job the checks are for (V(gosync), V(collection_sync), V(epn), V(pools), V(experiment)); copied into every row.
    type: str
    required: true
  timeout:
    description: Seconds each network check (web service, SSH, rsync daemon) may take.
    type: int
    default: 10
  secret_files:
    description: Credential files the job reads.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      what:
        description: What it holds, for the row (V(Globus client secret)).
        type: str
  destinations:
    description: Folders the job writes into.
    type: list
    elements: path
    default: []
  min_free:
    description: Space that must be available on the file system of each of O(destinations), as V(500M), V(10G) or bytes.
    type: str
    default: 1G
  web_services:
    description: HTTPS services the job calls; reachable means any HTTP answer over a verified TLS connection.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: What the service is, for the row.
        type: str
        required: true
      url:
        description: Its URL.
        type: str
        required: true
      ca_bundle:
        description: CA certificates to verify it with instead of the system store.
        type: path
  smtp:
    description: The SMTP relay the job sends its email through.
    type: dict
    suboptions:
      sender:
        description: The job's From address, offered as MAIL FROM; C(datasync@<fqdn>) when omitted, as the job's default.
        type: str
      to:
        description: The job's recipients; the first is offered as RCPT TO.
        type: list
        elements: str
        default: []
      host:
        description: The relay.
        type: str
        default: localhost
      port:
        description: Its port; V(25), or V(465) with O(smtp.tls=ssl).
        type: int
      tls:
        description: V(none), V(starttls) or V(ssl), as the job's mail option; certificates are verified.
        type: str
        choices: [none, starttls, ssl]
      starttls:
        description: The same as O(smtp.tls=starttls).
        type: bool
        default: false
      credentials_file:
        description: The job's SMTP login file (C(user:password)); it is logged in with, as the job would.
        type: path
      ca_bundle:
        description: CA bundle for the relay's certificate; the system store when omitted.
        type: path
      timeout:
        description: SMTP timeout in seconds.
        type: int
        default: 30
  ssh_sources:
    description: Hosts the job reaches over SSH (the EPN source); C(ssh ... true) runs with the job's key and known_hosts only.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: The host.
        type: str
        required: true
      port:
        description: Its SSH port.
        type: int
        default: 22
      user:
        description: The login.
        type: str
        required: true
      key_file:
        description: The job's private key.
        type: path
        required: true
      known_hosts:
        description: The job's known_hosts; the only host keys accepted.
        type: path
        required: true
  rsync_daemons:
    description:
      - rsync daemons the job pulls from. Rows V(rsync daemon reachable) (its C(@RSYNCD:) greeting), and with O(rsync_daemons[].pools)
        V(rsync login accepted) (one row for the user and password file, whichever modules refuse it) and V(rsync pool listed) per pool
        (an unknown module, a missing path, a path that is not a folder, a host the daemon denies).
      - The password is only ever read by rsync from O(rsync_daemons[].password_file); daemon text in the rows is escaped
        (C(\#ooo) per byte for control characters).
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: The daemon's host.
        type: str
        required: true
      port:
        description: Its port.
        type: int
        default: 873
      user:
        description: The job's rsync user (the daemon's C(auth users)).
        type: str
      password_file:
        description: The job's password file, as the job gives it to rsync (C(--password-file)); judged by the collection's one secret reader.
        type: path
      rsync_path:
        description: The rsync to run; C(rsync) on E(PATH) when omitted, as the job.
        type: path
      pools:
        description: The job's pools; each is listed, one level deep, as the job's account.
        type: list
        elements: dict
        default: []
        suboptions:
          module:
            description: The rsync module.
            type: str
            required: true
          path:
            description: The folder inside the module; the whole module when empty.
            type: str
            default: ""
  pvs:
    description: EPICS PVs the job reads over Channel Access; one row for all of them.
    type: dict
    suboptions:
      prefix:
        description: Prefix of every name.
        type: str
        default: ""
      names:
        description: The PV names after the prefix.
        type: list
        elements: str
        required: true
      timeout:
        description: Seconds for all PVs to connect and answer.
        type: float
        default: 2.0
      addr_list:
        description: E(EPICS_CA_ADDR_LIST); unset keeps the environment's.
        type: str
      auto_addr_list:
        description: E(EPICS_CA_AUTO_ADDR_LIST); unset keeps the environment's.
        type: bool
      server_port:
        description: E(EPICS_CA_SERVER_PORT); unset keeps the environment's.
        type: int
      repeater_port:
        description: E(EPICS_CA_REPEATER_PORT); unset keeps the environment's.
        type: int
  globus:
    description:
      - The Globus app the job uses. Service URLs come from the E(GLOBUS_SDK_*) environment, as for every Globus module.
      - Exactly one of O(globus.client_secret_file) and O(globus.client_secret) is required.
    type: dict
    suboptions:
      client_id:
        description: The app's client id.
        type: str
        required: true
      client_secret_file:
        description: File whose first line is the client secret (a secret file, read by the collection's one reader).
        type: path
      client_secret:
        description: The client secret itself; never logged nor returned.
        type: str
      token_cache:
        description: Not used; a pre-flight always asks for new tokens, so a wrong secret shows. Accepted so the job's options can be passed.
        type: path
      ca_bundle:
        description: CA bundle for the Globus services; the system store (or E(GLOBUS_SDK_VERIFY_SSL)) when omitted.
        type: path
      timeout:
        description: HTTP timeout in seconds of each Globus request.
        type: float
        default: 60
      root_group:
        description: The group whose members the job reads; the app must be its manager or admin.
        type: str
      collections:
        description: Collections the job uses.
        type: list
        elements: dict
        default: []
        suboptions:
          id:
            description: The collection id.
            type: str
            required: true
          name:
            description: A name for the row (V(source), V(destination)).
            type: str
          path:
            description: The folder the job uses; when it does not exist yet, its nearest existing parent is checked.
            type: str
            default: /
          access:
            description:
              - V(read) lists the folder; V(write) also makes and deletes a probe folder there;
                V(manage) also lists the collection's access rules (sharing needs the access manager role).
            type: str
            choices: [read, write, manage]
            default: read
notes:
  - C(playbooks/preflight.yml) runs this module for every job of every host and prints one table (docs/preflight.md);
    each job role maps its variables to these options in C(roles/<role>/tasks/preflight.yml).
"""

EXAMPLES = r"""
- name: Check what the collection sync needs (as the job's account)
  sciops.datasync.preflight:
    job: collection_sync
    secret_files:
      - {path: /etc/datasync/collection_sync/globus-client.secret, what: Globus client secret}
    smtp: {host: smtp.example.org, port: 587, tls: starttls, sender: datasync@transfer1.example.org, to: [data-team@example.org]}
    globus:
      client_id: 2f9482c4-67b3-4783-ad4b-8ce36ab8d9a1
      client_secret_file: /etc/datasync/collection_sync/globus-client.secret
      collections:
        - {name: source, id: 01651b67-5e17-56ea-88e6-a981a911baaa, path: /projects/}
        - {name: destination, id: b417b6c8-94c1-5163-959e-c2fac27e2ad7, path: /backup/projects/, access: write}
  become: true
  become_user: datasync
  register: preflight

- name: Check the pool mirror's destinations and daemon
  sciops.datasync.preflight:
    job: pools
    secret_files: [{path: /var/lib/datasync-jobs/icc-rsync/password, what: rsync daemon password}]
    destinations: [/srv/pacs/pools/pv]
    min_free: 50G
    rsync_daemons:
      - host: pacs.example.org
        port: 873
        user: pacs
        password_file: /var/lib/datasync-jobs/icc-rsync/password
        pools: [{module: pv}, {module: ops, path: notes}]
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
errors:
  returned: always
job:
  description: The job checked (O(job)).
  returned: always
  type: str
  sample: collection_sync
rows:
  description: One row per check, in the order local files, folders, services, Globus.
  returned: always
  type: list
  elements: dict
  contains:
    job:
      description: O(job).
      type: str
      returned: always
    check:
      description: What kind of thing was checked (V(credential file), V(Globus make folder), ...).
      type: str
      returned: always
    item:
      description: Which one (a file, URL, collection and folder, PV prefix).
      type: str
      returned: always
    result:
      description: V(ok), V(failed), or V(skipped) when a row it depends on failed (no Globus token) or in check mode.
      type: str
      returned: always
    detail:
      description: What was seen; for a failure, why, naming the thing.
      type: str
      returned: always
    fix:
      description: For a failure, what an operator does about it; empty otherwise.
      type: str
      returned: always
  sample: [{"job": "pools", "check": "rsync daemon reachable", "item": "pacs.example.org:873", "result": "ok",
            "detail": "greeted with @RSYNCD: 31.0", "fix": ""}]
failed_rows:
  description: How many rows failed.
  returned: always
  type: int
  sample: 0
"""

from ansible_collections.sciops.datasync.plugins.module_utils._preflight.run import main_module, run_module


def main():
    run_module(main_module())


if __name__ == "__main__":
    main()
