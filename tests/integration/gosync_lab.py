"""Helpers for the identity-sync integration tests: own Globus client and groups on the lab
emulator (so faults never touch other areas' tests), a temp accounts root, and two ways to run
the modules: a real ansible-playbook, and the module file directly (fast, for kill trials). ``Backend`` is
where the accounts land (local files or the lab's slapd), read back as a user of that backend sees them."""

import collections
import json
import os
import subprocess
import sys
import uuid

import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD = ["alice", "bob", "carol"]
HOSTILE_USERS = ["-rf", "sub/dir", "..", "john smith", "semi;colon", "new\nline", "zoë",
                 "averyveryverylongusernamethatexceedsthirtytwochars"]


class GlobusWorld:
    """A private corner of the Globus emulator: one client, a root group and subgroups."""

    def __init__(self, lab, tag=None):
        self.globus = lab.endpoints()["globus"]
        self.admin = self.globus["admin_url"].rstrip("/")
        self.tag = tag or uuid.uuid4().hex[:8]
        client = self.post("/clients", {"name": "gosync test " + self.tag})
        self.client_id = client["client_id"]
        self.secret = client["client_secret"]
        self.identities = {}

    def post(self, path, body):
        response = requests.post(self.admin + path, json=body, timeout=30)
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json()

    def write_secret(self, folder):
        path = os.path.join(str(folder), "globus.secret")
        with open(path, "w") as handle:
            handle.write(self.secret + "\n")
        os.chmod(path, 0o600)
        return path

    def identity(self, local, domain="example.org", name=None, email=None):
        username = "%s@%s" % (local, domain)
        doc = self.post("/identities", {"username": username, "name": name or local.title() + " " + self.tag,
                                        "email": email or "%s.%s@example.org" % (self.tag, len(self.identities))})
        self.identities[username] = doc.get("id") or doc.get("identity", {}).get("id")
        return username

    def group(self, name, members, parent_id=None):
        body = {"name": name, "members": [{"identity": self.client_id, "role": "admin", "status": "active"}]
                + [{"username": u, "role": "member", "status": "active"} for u in members]}
        if parent_id:
            body["parent_id"] = parent_id
        doc = self.post("/groups", body)
        return doc.get("id") or doc.get("group", {}).get("id")

    def set_member(self, group_id, username, status="active", role="member"):
        return self.post("/groups/%s/members" % group_id, {"username": username, "status": status, "role": role})

    def fault(self, pattern, status, count=1, retry_after=None):
        body = {"pattern": pattern, "status": status, "count": count, "client_id": self.client_id}
        if retry_after is not None:
            body["retry_after"] = retry_after
        return self.post("/faults", body)

    def clear_faults(self):
        requests.delete(self.admin + "/faults", params={"client_id": self.client_id}, timeout=30)

    def expire_tokens(self):
        return self.post("/tokens/expire", {"client_id": self.client_id})

    def requests_log(self, path_glob):
        response = requests.get(self.admin + "/requests", params={"path": path_glob, "client_id": self.client_id}, timeout=30)
        return response.json()


def read_db(root):
    def lines(name):
        path = os.path.join(str(root), "etc", name)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as handle:
            return [line.rstrip("\n").split(":") for line in handle if line.strip()]
    return {"passwd": lines("passwd"), "group": lines("group"), "shadow": lines("shadow")}


Account = collections.namedtuple("Account", "uid gid gecos home shell expired")
LDAP_OPTIONS = ("uri", "ca_file", "bind_dn", "bind_password_file", "users_base", "groups_base")


class Backend:
    """The accounts backend a test runs against (the ``backend`` fixture: each identity test runs once per backend):
    ``local`` keeps them in the account files under the test's root, ``ldap`` in the lab's slapd (ou=people and
    ou=groups emptied before and after, read back as the hosts' reader). ``args`` are the modules' options for it."""

    def __init__(self, name, lab, root):
        self.name, self.root = name, str(root)
        self.ep = lab.endpoints()["slapd"] if name == "ldap" else None
        self.args = {"backend": name}
        if self.ep:
            self.args["ldap"] = {k: self.ep[k] for k in LDAP_OPTIONS}

    def clear(self):
        if self.ep:
            from tests.integration.directory_lab import clear  # pylint: disable=import-outside-toplevel

            clear(self.ep)

    def add(self, passwd_lines, group_lines):
        """Accounts the site had before the sync ran, where this backend keeps them (after local_sysadmin's files)."""
        if self.ep:
            from tests.integration.directory_lab import add  # pylint: disable=import-outside-toplevel

            add(self.ep, passwd_lines, group_lines)
            return
        names = [line.split(":")[0] for line in passwd_lines]
        for name, lines in (("passwd", passwd_lines), ("group", group_lines), ("shadow", [n + ":*:19000:0:99999:7:::" for n in names]),
                            ("gshadow", ["%s:*::%s" % (line.split(":")[0], line.split(":")[3]) for line in group_lines])):
            with open(os.path.join(self.root, "etc", name), "a", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in lines))

    def users(self):
        """{name: Account}; ``expired`` is the lock every host honours (shadow expire day 1)."""
        if self.ep is None:
            db = read_db(self.root)
            expired = {row[0]: row[7] == "1" for row in db["shadow"] if len(row) > 7}
            return {r[0]: Account(int(r[2]), int(r[3]), r[4], r[5], r[6], expired.get(r[0], False)) for r in db["passwd"]}
        from tests.integration.directory_lab import entries  # pylint: disable=import-outside-toplevel

        return {name: Account(int(a["uidnumber"][0]), int(a["gidnumber"][0]), a.get("gecos", [""])[0], a["homedirectory"][0],
                              a["loginshell"][0], a.get("shadowexpire") == ["1"])
                for name, a in entries(self.ep, self.ep["users_base"]).items()}

    def groups(self):
        """{name: (gid, sorted member names)}."""
        if self.ep is None:
            return {r[0]: (int(r[2]), sorted(m for m in r[3].split(",") if m)) for r in read_db(self.root)["group"]}
        from tests.integration.directory_lab import entries  # pylint: disable=import-outside-toplevel

        return {name: (int(a["gidnumber"][0]), sorted(a.get("memberuid", [])))
                for name, a in entries(self.ep, self.ep["groups_base"]).items()}

    def view(self):
        return self.users(), self.groups()


def run_module(name, args, env, timeout=120):
    """Run a module file directly (AnsibleModule args file); returns (proc, parsed result or None)."""
    proc = start_module(name, args, env)
    out, err = proc.communicate(timeout=timeout)
    try:
        return proc, json.loads(out[out.index("{"):])
    except ValueError:
        return proc, {"_stdout": out, "_stderr": err, "rc": proc.returncode}


def start_module(name, args, env, check_mode=False):
    folder = args.pop("_args_dir")
    path = os.path.join(str(folder), "args-%s.json" % uuid.uuid4().hex[:6])
    with open(path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check_mode)}, handle)
    module = os.path.join(REPO, "plugins", "modules", name + ".py")
    full_env = dict(env, PYTHONPATH=os.path.join(REPO, ".collections"))
    return subprocess.Popen([sys.executable, module, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, start_new_session=True)


def playbook_file(folder, tasks):
    """A local play with the given task list, written to folder/play.yml."""
    import yaml

    play = [{"name": "gosync integration", "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    path = os.path.join(str(folder), "play-%s.yml" % uuid.uuid4().hex[:6])
    with open(path, "w") as handle:
        handle.write("---\n" + yaml.safe_dump(play, sort_keys=False))
    return path


def task_results(stdout):
    """{task name: result} from the json callback output."""
    document = json.loads(stdout[stdout.index("{"):])
    out = {}
    for play in document["plays"]:
        for task in play["tasks"]:
            out[task["task"]["name"]] = task["hosts"]["localhost"]
    return out
