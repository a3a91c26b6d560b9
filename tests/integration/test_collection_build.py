"""The collection builds into a tarball that installs into an empty path and is usable there."""

import glob
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_build_and_install_into_empty_path(tmp_path):
    dist, target = tmp_path / "dist", tmp_path / "collections"
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), REPO],
                   check=True, capture_output=True)
    tarballs = glob.glob(str(dist / "sciops-datasync-*.tar.gz"))
    assert [os.path.basename(t) for t in tarballs] == ["sciops-datasync-0.1.0.tar.gz"]
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p", str(target), tarballs[0]],
                   check=True, capture_output=True)
    installed = target / "ansible_collections" / "sciops" / "datasync"
    manifest = json.loads((installed / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["version"] == "0.1.0"
    files = {f["name"] for f in json.loads((installed / "FILES.json").read_text())["files"]}
    assert "roles/runtime/tasks/schedule.yml" in files
    # Only what runs: the tests are not shipped, so editing one reinstalls the collection on no host.
    assert not any(name.startswith((".lab", ".venv", ".collections", "tests")) for name in files)
    assert {"plugins/modules", "roles/runtime/tasks/build.yml", "playbooks/site.yml", "meta/runtime.yml"} <= files
    listing = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "list", "-p", str(target)],
                             check=True, capture_output=True, text=True, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(target)))
    assert "sciops.datasync 0.1.0" in " ".join(listing.stdout.split())
