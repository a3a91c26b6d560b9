"""`make demo`: the whole mission on the lab's booted hosts, then one summary a person reads in ten seconds.

Brings the lab up (bridge, booted hosts, services; `make lab-up`), deploys playbooks/site.yml to the
hosts over SSH with inventories/lab (as the integration tests' `lab_site` does), then lets the hosts'
schedulers run the jobs: a timer job is started the way its timer starts it (`systemctl start
datasync-JOB.service` on the host), a cron job fires from its /etc/cron.d entry (the lab inventory
schedules them every minute or two) and the demo waits for its run to show in the job log. The
on-demand experiment runs as its run-now playbook. Each step in tests/demo_steps/ (ORDER, TITLE,
run(demo) returning summary lines) reads its facts from inside the hosts; the steps run side by side.
The lab stays up. A second `make demo` reports that nothing changed, from the changed counts the
deploy and the jobs themselves report.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import threading
import time

from tests import demo_monitoring
from tests.demo_steps import DemoError
from tests.integration.site_lab import deploy_site, hosts_up, ssh
from tests.lab.hosts.job_log import job_runs
from tests.lab.supervisor import Lab, LabError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
INVENTORY = "inventories/lab"
# Where datasync-job appends a job's log: root's jobs, then the service account's.
LOG_DIRS = ("/var/log/datasync", "/var/log/datasync-jobs")
# A run's output holds no "===== " line: a run killed before its end line is never joined to the next.
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def changed_tasks(stdout):
    """{host: [task name, ...]} of the tasks ansible-playbook's default output shows as changed."""
    found, task = {}, None
    for line in stdout.splitlines():
        title = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$", line)
        if title:
            task = title.group(1)
        host = re.match(r"^changed: \[([^\]]+)\]", line)
        if host and task and task not in found.setdefault(host.group(1), []):
            found[host.group(1)].append(task)
    return found


def recap(stdout):
    """{host: (changed, unreachable, failed)} from an ansible-playbook PLAY RECAP."""
    return {m.group(1): tuple(int(m.group(i)) for i in (2, 3, 4)) for m in RECAP.finditer(stdout)}


class Result:
    def __init__(self, proc):
        self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr

    def __repr__(self):
        return "rc=%s\n%s\n%s" % (self.rc, self.stdout[-4000:], self.stderr[-2000:])


class Demo:
    def __init__(self, lab):
        self.lab = lab
        self.started = time.time()
        self.deployed = (0.0, 0.0)
        self.deploy_changes = {}
        self.deploy_tasks = {}
        self.changes = []  # (what, count): every change the deploy, the jobs and the playbooks reported
        self.runs = []  # (host, run): every job run the summary shows
        self._lock = threading.Lock()
        self.env = dict(os.environ, **lab.environment())
        self.env.update(ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_INVENTORY="",
                        ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"), ANSIBLE_NOCOLOR="1")

    def changed(self, what, count):
        with self._lock:
            self.changes.append((what, count))

    # --- the controller's side: ansible-playbook over SSH ----------------------------------
    def ansible_playbook(self, *args, env=None):
        # Its own stdin: ssh run by another step sets O_NONBLOCK on a shared stdin, which ansible refuses.
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook")] + list(args), cwd=REPO, stdin=subprocess.DEVNULL,
                              env=dict(self.env, **(env or {})), capture_output=True, text=True, check=False)
        return Result(proc)

    def deploy(self):
        """playbooks/site.yml to the booted hosts, the one way the tests deploy it (site_lab.deploy_site)."""
        start = time.time()
        try:
            result = deploy_site(self.lab, self.ansible_playbook)
        except AssertionError as exc:
            raise DemoError("playbooks/site.yml failed on the hosts:\n%s" % str(exc)[-4000:])
        self.deployed = (start, time.time())
        hosts = recap(result.stdout)
        if result.rc != 0 or not hosts or any(counts[1] or counts[2] for counts in hosts.values()):
            raise DemoError("playbooks/site.yml failed on the hosts: %r" % result)
        self.deploy_changes = {host: counts[0] for host, counts in hosts.items()}
        self.deploy_tasks = changed_tasks(result.stdout)
        for host, count in sorted(self.deploy_changes.items()):
            self.changed("deploy %s" % host, count)
        return self.deploy_changes

    def playbook(self, path, *args):
        """A run-now playbook on the hosts (inventories/lab); the json callback's document."""
        result = self.ansible_playbook("-i", INVENTORY, path, *args, env={
            "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_CALLBACK_PLUGINS": os.path.join(REPO, "tests", "callback_plugins")})
        try:
            document = json.loads(result.stdout[result.stdout.index("{"):])
        except ValueError:
            raise DemoError("%s printed no JSON (rc %d):\n%s" % (path, result.rc, result.stderr[-3000:]))
        stats = document.get("stats", {})
        self.changed(path, sum(host.get("changed", 0) for host in stats.values()))
        if result.rc != 0:
            failed = ["%s %s: %s" % (host, task["task"]["name"], outcome.get("msg", ""))
                      for play in document.get("plays", []) for task in play.get("tasks", [])
                      for host, outcome in task.get("hosts", {}).items() if outcome.get("failed")]
            raise DemoError("%s failed (rc %d):\n%s\n%s" % (path, result.rc, "\n".join(failed), result.stderr[-2000:]))
        return document

    # --- inside the hosts: root via the admin's sudo over SSH ------------------------------
    def on(self, host, *argv, check=True, timeout=300):
        """Run argv as root on host; its stdout. check: a non-zero exit is a DemoError."""
        proc = ssh(self.lab, host, *argv, timeout=timeout)
        if check and proc.returncode != 0:
            raise DemoError("on %s, %s exited %d:\n%s" % (host, " ".join(argv), proc.returncode, (proc.stderr or proc.stdout)[-2000:]))
        return proc.stdout

    def log(self, host, job):
        """The job's log on host (root's jobs and the service account's log to different folders)."""
        paths = ["%s/%s.log" % (folder, job) for folder in LOG_DIRS]
        return self.on(host, "sh", "-c", 'for f in "$@"; do [ -f "$f" ] && cat "$f"; done; true', "sh", *paths)

    def journal(self, host, since, *selector):
        return self.on(host, "journalctl", "--no-pager", "-o", "short-iso", "--since", "@%d" % int(since), *selector).splitlines()

    def timer_job(self, host, job, count=True):
        """Start the job's unit as its timer does and return its run from the job log and systemd's lines.
        count: the run's changed count goes into the demo's verdict (a step may count another fact)."""
        since = int(time.time())
        unit = "datasync-%s.service" % job
        proc = ssh(self.lab, host, "systemctl", "start", unit, timeout=900)
        runs = job_runs(self.log(host, job), job, since)
        journal = [line for line in self.journal(host, since, "-u", unit) if "systemd[1]" in line]
        if proc.returncode != 0 or not runs or runs[-1].rc != 0:
            raise DemoError("%s on %s failed (systemctl start exited %d); its journal:\n%s\nits log: %s" % (
                unit, host, proc.returncode, "\n".join(journal[-10:]) or proc.stderr, runs[-1].output[-3000:] if runs else "no run"))
        if count:
            self.changed("%s %s" % (host, job), runs[-1].changed)
        self.ran(host, runs[-1])
        return runs[-1], journal

    def ran(self, host, run):
        with self._lock:
            self.runs.append((host, run))

    def deployed_since(self, host):
        """When what the deploy installs on host last changed (epoch s): the newest change time of the
        job files, the wrapper, the cron entries, the collection and the virtualenv's packages."""
        script = ("find /etc/datasync /usr/local/bin/datasync-job /etc/cron.d -printf '%C@\\n'; "
                  "find /opt/datasync/venv/collections/ansible_collections/sciops/datasync/MANIFEST.json /opt/datasync/venv/lib "
                  "-maxdepth 2 -printf '%C@\\n'")
        return max(float(n) for n in self.on(host, "sh", "-c", script).split())

    def cron_job(self, host, job, period=60):
        """The latest run cron started of what is deployed on host, waiting (bounded) for one to end.

        When the deploy changed nothing on the host, every run that began after the deployed files last
        changed ran what is deployed (a second demo need not wait for the next minute); otherwise only a
        run that began after the deploy counts. period: the entry's interval (s).
        """
        since = self.deployed_since(host) if self.deploy_changes.get(host) == 0 else self.deployed[1]
        since = int(since) + 1
        deadline = max(since, self.deployed[1]) + period + 120
        while True:
            runs = job_runs(self.log(host, job), job, since)
            if runs:
                break
            if time.time() > deadline:
                entry = self.on(host, "cat", "/etc/cron.d/datasync-" + job, check=False).strip().splitlines()
                raise DemoError("cron did not run %s on %s within %d s after %s (entry: %s); last cron lines:\n%s" % (
                    job, host, deadline - since, time.strftime("%H:%M:%S", time.gmtime(since)), entry[-1:] or "missing",
                    "\n".join(self.journal(host, since - period, "-t", "CRON")[-10:])))
            time.sleep(3)
        run = runs[-1]
        command = "CMD (/usr/local/bin/datasync-job %s)" % job
        cron = [line for line in self.journal(host, run.started - 2, "-t", "CRON") if line.endswith(command)][:1]
        if run.rc != 0:
            raise DemoError("cron's run of %s on %s failed (rc %d):\n%s" % (job, host, run.rc, run.output[-3000:]))
        self.changed("%s %s" % (host, job), run.changed)
        self.ran(host, run)
        return run, cron

    def mail_since(self, since):
        """The messages the lab SMTP sink stored since the epoch time since: (envelope to, subject)."""
        folder = self.lab.path("mail")
        found = []
        for name in sorted(os.listdir(folder) if os.path.isdir(folder) else []):
            path = os.path.join(folder, name)
            if name.endswith(".eml") and os.path.getmtime(path) >= since:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    head = handle.read(4096)
                to = re.search(r"^X-Lab-Envelope-To: (.*)$", head, re.M)
                subject = re.search(r"^Subject: (.*)$", head, re.M)
                found.append((to.group(1).strip() if to else "?", subject.group(1).strip() if subject else "?"))
        return found


def steps():
    from tests import demo_steps

    found = [importlib.import_module("tests.demo_steps." + info.name) for info in pkgutil.iter_modules(demo_steps.__path__)]
    return sorted((m for m in found if hasattr(m, "run")), key=lambda m: m.ORDER)


def run_steps(demo, chosen):
    """Each step in its own thread (they reach different jobs); [(title, lines)] in ORDER."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        futures = [(step, pool.submit(step.run, demo)) for step in chosen]
        done, errors = [], []
        for step, future in futures:
            try:
                done.append((step.TITLE, future.result()))
            except DemoError as exc:
                errors.append("%s: %s" % (step.TITLE, exc))
    if errors:
        raise DemoError("\n".join(errors))
    return done


def print_summary(demo, summary, seconds):
    print("\n" + "=" * 78)
    print("sciops.datasync demo on the lab's hosts (%.0f s)" % seconds)
    print("=" * 78)
    for title, lines in summary:
        print("%-16s %s" % (title, lines[0] if lines else ""))
        for line in lines[1:]:
            print("%-16s %s" % ("", line))
    print("-" * 78)
    changed = [(what, count) for what, count in demo.changes if count]
    if changed:
        print("%d changes made: %s." % (sum(item[1] for item in changed), ", ".join("%s %d" % item for item in changed)))
    else:
        print("Nothing changed: the deploy and every job found the hosts in their desired state.")
    print("The lab stays up (make lab-down removes it). Hosts: ssh -F %s portal1; mail: %s; logs: %s"
          % (demo.lab.path("hosts", "ssh_config"), demo.lab.path("mail"), demo.lab.path("logs")))


def say(started, what):
    print("demo %4.0f s: %s" % (time.monotonic() - started, what), flush=True)


def main():
    started = time.monotonic()
    lab = Lab()
    try:
        lab.up()
    except LabError as exc:
        print("demo: the lab did not start: %s" % exc, file=sys.stderr)
        return 1
    if not hosts_up(lab):
        print("demo: the lab's hosts are not booted (they need root: run make demo as root)", file=sys.stderr)
        return 1
    os.environ.update(lab.ca_environment())  # the demo's own calls to the lab verify its CA, as the tests' do
    demo = Demo(lab)
    try:
        say(started, "the lab is up; deploying playbooks/site.yml to the hosts over SSH")
        changes = demo.deploy()
        say(started, "deployed; the hosts' timers and cron run the jobs, experiment.yml runs now")
        deploy = ["playbooks/site.yml over SSH (inventories/lab) in %.0f s: %s" % (
            demo.deployed[1] - demo.deployed[0], ", ".join("%s %d changed" % item for item in sorted(changes.items())))]
        deploy += ["  %s changed: %s" % (host, "; ".join(tasks)) for host, tasks in sorted(demo.deploy_tasks.items())]
        summary = [("deploy", deploy)] + run_steps(demo, steps())
        mail = demo.mail_since(demo.started)
        summary.append(("mail", ["the lab SMTP sink received %d message(s) during the demo%s" % (len(mail), ":" if mail else "")]
                        + ["  to %s: %s" % item for item in mail]))
        say(started, "the jobs ran; reading the audit logs, the metrics files and Prometheus")
        summary += demo_monitoring.report(demo)
    except DemoError as exc:
        print("\ndemo FAILED: %s" % exc, file=sys.stderr)
        return 1
    print_summary(demo, summary, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
