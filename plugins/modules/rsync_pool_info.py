#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciops.datasync contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rsync_pool_info
short_description: List an rsync daemon's modules, or the files under a module path
version_added: "0.1.0"
description:
  - Without O(module), lists the daemon's modules with their descriptions (C(transferPools list)).
  - With O(module), lists the entries under C(<module>[/<path>]) with names, types, sizes and times
    (C(transferPools list <module>[<path>])), recursively with O(recursive=true).
  - Module and path names are validated before anything runs; the password never reaches argv or results.
author:
  - sciops datasync maintainers (@sciops)
extends_documentation_fragment:
  - sciops.datasync.rsync_daemon
  - sciops.datasync.attributes.info_module
options:
  module:
    description: The module to list; omit to list the modules.
    type: str
  path:
    description: A relative path inside O(module) to list.
    type: str
    default: ""
  recursive:
    description: List everything below, not just the first level.
    type: bool
    default: false
  max_entries:
    description: Return at most this many entries (V(0) for all); RV(files_count) is always complete.
    type: int
    default: 10000
  timeout:
    description: I/O timeout in seconds.
    type: int
    default: 300
seealso:
  - module: sciops.datasync.rsync_pool_mirror
"""

EXAMPLES = r"""
- name: List the pool modules (transferPools list)
  sciops.datasync.rsync_pool_info:
    host: icc.example.org
  register: pools

- name: List one observation folder, recursively
  sciops.datasync.rsync_pool_info:
    host: icc.example.org
    user: pacs
    password_file: /home/pacspools/icc-rsync/password
    module: pv
    path: obs0001
    recursive: true
  register: listing

- name: Show the module names
  ansible.builtin.debug:
    msg: "{{ pools.modules | map(attribute='name') | list }}"
"""

RETURN = r"""
extends_documentation_fragment:
  - sciops.datasync.results
modules:
  description: The daemon's modules.
  returned: without O(module)
  type: list
  elements: dict
  contains:
    name:
      description: The module name.
      type: str
      sample: pv-1
    description:
      description: The module's comment.
      type: str
      sample: PACS product pools, PV part 1
files:
  description: Entries under the module path (the listed folder itself is left out).
  returned: with O(module)
  type: list
  elements: dict
  contains:
    name:
      description: Path relative to the listed folder.
      type: str
    type:
      description: V(file), V(directory), V(symlink), V(device), V(fifo), V(socket) or V(other).
      type: str
    mode:
      description: The permission string, for example C(-rw-r--r--).
      type: str
    size:
      description: Size in bytes.
      type: int
    mtime:
      description: Modification time, epoch seconds.
      type: int
    modified:
      description: Modification time, ISO 8601 UTC.
      type: str
    target:
      description: Where a symlink points.
      type: str
      returned: for symlinks
files_count:
  description: How many entries there are (before O(max_entries)).
  returned: with O(module)
  type: int
total_size:
  description: Sum of the regular files' sizes.
  returned: with O(module)
  type: int
truncated:
  description: True when O(max_entries) cut the list.
  returned: when truncated
  type: bool
"""

from ansible_collections.sciops.datasync.plugins.module_utils._pools.mirror import daemon_module, run_info


def main():
    run_info(daemon_module(dict(
        module=dict(type="str"),
        path=dict(type="str", default=""),
        recursive=dict(type="bool", default=False),
        max_entries=dict(type="int", default=10000),
        timeout=dict(type="int", default=300),
    )))


if __name__ == "__main__":
    main()
