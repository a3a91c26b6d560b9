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
