"""Generate a large Globus emulator seed (default 20,000 identities, 2,000 groups).

    python -m tests.lab.globus.seedgen -o /tmp/globus-big.yml [--identities N] [--groups N] [--big-group 5000]

The lab client (same id/secret as the demo seed) is admin of every group; groups form a
tree under one root; group 1 ("big.group") has --big-group members; the other members are
spread so every identity is in about three groups. Deterministic (seeded random).
The output is JSON (which is YAML too) unless --yaml: PyYAML needs ~15 s for this size.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid

import yaml

LAB_CLIENT = {"id": "d08b351a-2516-55d1-9257-d2e8a3e81ebc", "secret": "lab-globus-client-secret-not-for-production",
              "name": "sciops-datasync lab client"}


def gid(index):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "sciops-lab-big/group/%d" % index))


def generate(identities=20000, groups=2000, big_group=5000, per_identity=3, seed=7):
    rnd = random.Random(seed)
    people = []
    statuses = ["active"] * 90 + ["pending"] * 4 + ["invited"] * 3 + ["removed"] * 3
    for index in range(identities):
        username = "user%05d@example.org" % index
        people.append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "sciops-lab-big/identity/%d" % index)), "username": username,
                       "name": "User %05d" % index, "email": username, "organization": "Example University", "status": "used"})
    group_docs = []
    for index in range(groups):
        parent = None if index == 0 else gid(0 if index < 50 else rnd.randrange(1, 50))
        group_docs.append({"id": gid(index), "name": "sciops-big-root" if index == 0 else ("big.group" if index == 1 else "big.proj%04d" % index),
                           "parent": parent, "description": "generated group %d" % index,
                           "policies": {"group_visibility": "private", "group_members_visibility": "managers"},
                           "members": [{"client": LAB_CLIENT["id"], "role": "admin"}]})
    members = {index: set() for index in range(groups)}
    for person in rnd.sample(range(identities), min(big_group, identities)):
        members[1 % groups].add(person)
    for person in range(identities):
        members[0].add(person)
        for _extra in range(per_identity - 1):
            members[rnd.randrange(2, groups) if groups > 2 else 0].add(person)
    for index, found in members.items():
        for person in sorted(found):
            group_docs[index]["members"].append({"identity": people[person]["id"], "role": "member", "status": rnd.choice(statuses)})
    return {"clients": [LAB_CLIENT], "identities": people, "groups": group_docs, "collections": []}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--identities", type=int, default=20000)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--big-group", type=int, default=5000)
    parser.add_argument("--yaml", action="store_true", help="block YAML instead of JSON (JSON is valid YAML and loads 50x faster)")
    args = parser.parse_args(argv)
    document = generate(args.identities, args.groups, args.big_group)
    with open(args.output, "w") as handle:
        if args.yaml:
            handle.write("---\n")
            yaml.dump(document, handle, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, width=200)
        else:
            json.dump(document, handle, separators=(",", ":"))
    print("wrote %s: %d identities, %d groups" % (args.output, len(document["identities"]), len(document["groups"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
