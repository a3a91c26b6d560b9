#!/usr/bin/env bash
# AWX/AAP readiness: ansible-builder renders the execution environment's build context
# from meta/execution-environment.yml, and galaxy-importer (offline, ansible-test and
# ansible-lint off: make test runs both itself) accepts the built collection.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON313:-$(dirname "$(command -v ansible-galaxy)")/python}
work="$repo/.cache/awx"
venv="$work/venv"
mkdir -p "$work"
if [ ! -x "$venv/bin/galaxy-importer" ] && [ ! -f "$venv/.installed" ] || ! cmp -s "$repo/requirements-awx.txt" "$venv/.installed"; then
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$repo/requirements-awx.txt"
  cp "$repo/requirements-awx.txt" "$venv/.installed"
fi
rm -rf "$work/dist" "$work/context" "$work/installed"
ansible-galaxy collection build --force --output-path "$work/dist" "$repo" >/dev/null
"$venv/bin/ansible-builder" create --file "$repo/extensions/ee/execution-environment.yml" --context "$work/context" --output-filename Containerfile
test -s "$work/context/Containerfile"
grep -q "globus-sdk" "$work/context/_build/requirements.txt"
# What AWX's EE build finds through the collection's meta/execution-environment.yml.
ansible-galaxy collection install --force --no-deps -p "$work/installed" "$work"/dist/sciops-datasync-*.tar.gz >/dev/null
"$venv/bin/ansible-builder" introspect "$work/installed" > "$work/introspect.txt"
grep -q "globus-sdk" "$work/introspect.txt"
grep -q "rsync" "$work/introspect.txt"
cat > "$work/importer.cfg" <<'CFG'
[galaxy-importer]
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = False
CFG
cd "$work"  # galaxy-importer writes importer_result.json into the current folder
GALAXY_IMPORTER_CONFIG="$work/importer.cfg" PATH="$venv/bin:$PATH" \
  "$venv/bin/python" -m galaxy_importer.main "$work"/dist/sciops-datasync-*.tar.gz | tee "$work/importer.log" | tail -3
grep -q "Importer processing completed successfully" "$work/importer.log"
# The job templates as AWX runs them (tests/integration/test_awx_runner.py runs them against the lab):
# ansible-runner from a private data dir (project/ with the collection on its collections path,
# inventory/ from inventories/example, env/extravars); here every template's playbook is syntax-checked.
pdd="$work/runner"
rm -rf "$pdd"
mkdir -p "$pdd/project/collections/ansible_collections/sciops" "$pdd/env"
for name in playbooks roles ansible.cfg; do ln -s "$repo/$name" "$pdd/project/$name"; done
ln -s "$repo" "$pdd/project/collections/ansible_collections/sciops/datasync"
cp -r "$repo/inventories/example" "$pdd/inventory"
echo '{}' > "$pdd/env/extravars"
printf '{"ANSIBLE_COLLECTIONS_PATH": "%s", "ANSIBLE_CONFIG": "%s"}\n' "$pdd/project/collections" "$pdd/project/ansible.cfg" > "$pdd/env/envvars"
echo 'example-only-vault-password' > "$work/vault-password"
for playbook in site gosync collection_sync epn pools experiment globus_groups; do
  ansible-runner run "$pdd" -p "playbooks/$playbook.yml" --cmdline "--syntax-check --vault-password-file $work/vault-password" -q >/dev/null \
    || { echo "ansible-runner: playbooks/$playbook.yml failed its syntax check"; exit 1; }
done
echo "ansible-runner: every job template's playbook parses from a private data dir"
