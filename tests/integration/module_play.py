"""Run one collection module through real ansible-playbook on localhost, without the lab.

``run_module(tmp_path, "aps_beamtime_info", args)`` returns ``(result, raw)``: the task's result
dict and the whole stdout and stderr of the run as text (what a canary-secret test greps).
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_module(tmp_path, module, args, check_mode=False, name="play.json"):
    play = tmp_path / name
    play.write_text(json.dumps([{"name": "hardening", "hosts": "localhost", "gather_facts": False, "connection": "local",
                                 "vars": {"ansible_python_interpreter": sys.executable},
                                 "tasks": [{"name": "run", "sciops.datasync." + module: args}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"),
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "callback_plugins"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", str(play)] + (["--check"] if check_mode else [])
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    document = json.loads(proc.stdout[proc.stdout.index("{"):])
    return document["plays"][0]["tasks"][0]["hosts"]["localhost"], proc.stdout + proc.stderr
