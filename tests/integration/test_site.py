"""The whole site: the example inventory is usable and every role works in check mode on a fresh host."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_example_inventory_decrypts_and_site_parses(ansible_playbook, tmp_path):
    password = tmp_path / "vault-password"
    password.write_text("example-only-vault-password\n")
    result = ansible_playbook("-i", "inventories/example", "--vault-password-file", str(password),
                              "--syntax-check", "playbooks/site.yml")
    assert result.rc == 0


def test_every_role_in_check_mode_on_a_fresh_host(ansible_playbook, tmp_path):
    fresh = tmp_path / "fresh"
    result = ansible_playbook("playbooks/site.yml", "--check", "--limit", "portal,transfer,beamline,mirror",
                              "-e", "datasync_prefix=%s/{{ inventory_hostname }}" % fresh)
    assert "failed=0" in result.stdout
    assert not any(fresh.rglob("*")), "check mode wrote files: %s" % sorted(str(p) for p in fresh.rglob("*"))[:10]
