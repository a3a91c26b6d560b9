"""`make demo`: the whole mission on the lab, then one summary a person reads in ten seconds.

Starts the lab, deploys every role with playbooks/site.yml, then runs each step in
tests/demo_steps/ (sorted by ORDER). A step defines ORDER, TITLE and run(demo) returning
summary lines. A second `make demo` reports that nothing changed.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import time

from tests.lab.supervisor import Lab, LabError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


class DemoError(Exception):
    pass


class Demo:
    def __init__(self, lab):
        self.lab = lab
        self.changed = 0
        self.env = dict(os.environ, **lab.environment())
        self.env.update(
            ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"),
            ANSIBLE_NOCOLOR="1",
        )

    def playbook(self, path, *args):
        """Run a playbook on the lab inventory; return the json callback's document."""
        env = dict(self.env, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "callback_plugins"))
        # Still the controller-as-every-host inventory (paths under .lab/root/<host>): moving the
        # demo's run-now steps onto the booted hosts (inventories/lab) is the next step.
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "tests/integration/inventory", path] + list(args),
                              cwd=REPO, env=env, capture_output=True, text=True, check=False)
        try:
            document = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            raise DemoError("%s printed no JSON (rc %d):\n%s" % (path, proc.returncode, proc.stderr[-3000:]))
        stats = document.get("stats", {})
        self.changed += sum(host.get("changed", 0) for host in stats.values())
        if proc.returncode != 0:
            failed = [
                "%s %s: %s" % (host, task["task"]["name"], result.get("msg", ""))
                for play in document.get("plays", []) for task in play.get("tasks", [])
                for host, result in task.get("hosts", {}).items() if result.get("failed")
            ]
            raise DemoError("%s failed (rc %d):\n%s\n%s" % (path, proc.returncode, "\n".join(failed), proc.stderr[-2000:]))
        return document

    def host_root(self, host):
        return self.lab.path("root", host)

    def job(self, host, job, *args):
        """Run an installed job the way cron or the timer does; return (rc, changed count)."""
        root = self.host_root(host)
        log = os.path.join(root, "var", "log", "datasync", job + ".log")
        start = os.path.getsize(log) if os.path.exists(log) else 0
        proc = subprocess.run([os.path.join(root, "usr", "local", "bin", "datasync-job"), job] + list(args),
                              env=self.env, check=False)
        with open(log, errors="replace") as handle:
            handle.seek(start)
            output = handle.read()
        changed = sum(int(n) for n in re.findall(r"changed=(\d+)", output))
        self.changed += changed
        if proc.returncode != 0:
            raise DemoError("job %s on %s failed (rc %d); see %s:\n%s" % (job, host, proc.returncode, log, output[-3000:]))
        return proc.returncode, changed


def steps():
    from tests import demo_steps

    found = [importlib.import_module("tests.demo_steps." + info.name) for info in pkgutil.iter_modules(demo_steps.__path__)]
    return sorted((m for m in found if hasattr(m, "run")), key=lambda m: m.ORDER)


def main():
    started = time.monotonic()
    lab = Lab()
    try:
        lab.up()
    except LabError as exc:
        print("demo: the lab did not start: %s" % exc, file=sys.stderr)
        return 1
    os.environ.update(lab.ca_environment())  # the demo's own calls to the lab verify its CA, as the tests' do
    demo = Demo(lab)
    summary = []
    try:
        document = demo.playbook("playbooks/site.yml")
        hosts = sorted(document.get("stats", {}))
        deployed = sum(document["stats"][h].get("changed", 0) for h in hosts)
        summary.append(("deploy", ["site.yml on %d hosts (%s): %d changes" % (len(hosts), ", ".join(hosts), deployed)]))
        for step in steps():
            summary.append((step.TITLE, step.run(demo)))
    except DemoError as exc:
        print("\ndemo FAILED: %s" % exc, file=sys.stderr)
        return 1
    print("\n" + "=" * 72)
    print("sciops.datasync demo on the lab (%.0f s)" % (time.monotonic() - started))
    print("=" * 72)
    for title, lines in summary:
        print("%-18s %s" % (title, lines[0] if lines else ""))
        for line in lines[1:]:
            print("%-18s %s" % ("", line))
    print("-" * 72)
    if demo.changed:
        print("%d changes made." % demo.changed)
    else:
        print("Nothing changed: every host and job was already in its desired state.")
    print("Look in: %s (deployed hosts), %s (mail received), %s (emulator and daemon logs)"
          % (lab.path("root"), lab.path("mail"), lab.path("logs")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
