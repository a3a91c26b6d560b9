#!/usr/bin/env bash
# ansible-test sanity on a copy of the tree at .../ansible_collections/sciops/datasync,
# with ansible-test's pip bootstrap served from a local wheel (no internet here).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv_bin=$(dirname "$(command -v ansible-test)")
pip_version=$("$venv_bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; print(g(type("P", (), {"version": "3.13"})())["pip"])')
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
shim="$cache/get_pip_${pip_version//./_}.py"
if ! ls "$cache"/pip-"$pip_version"-*.whl >/dev/null 2>&1; then
  "$venv_bin/python" -m pip download -q --no-deps --disable-pip-version-check "pip==$pip_version" -d "$cache"
fi
cp "$repo/tests/tools/get_pip_offline.py" "$shim.$$" && mv -f "$shim.$$" "$shim"
# A fresh folder per run: several checkouts may run sanity at once. Not under a dot folder
# (ansible-test skips content below hidden folders).
top=$(mktemp -d /tmp/datasync-sanity.XXXXXX)
trap 'rm -rf "$top"' EXIT
work="$top/ansible_collections/sciops/datasync"
mkdir -p "$work"
tar -C "$repo" --exclude=./.git --exclude=./.venv --exclude=./.lab --exclude=./.cache --exclude=./.collections \
  --exclude=./.ansible --exclude=./.hypothesis --exclude=./tests/output --exclude=__pycache__ --exclude=.pytest_cache -cf - . | tar -C "$work" -xf -
cd "$work"
ansible-test sanity --venv --python "${SANITY_PYTHON:-3.13}" --color no "$@"
# Module code runs on target Pythons 3.9+: compile and import it with each one installed
# here (pyenv holds them on this machine kind; a missing one is reported and skipped).
if [ $# -eq 0 ]; then
  pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
  for version in 3.9 3.10 3.11 3.12; do
    bin=$(ls -d "$pyenv_root"/versions/"$version".*/bin 2>/dev/null | tail -1)
    if [ -z "$bin" ]; then
      echo "sanity: Python $version not installed; its compile/import checks are skipped"
      continue
    fi
    PATH="$bin:$PATH" ansible-test sanity --venv --python "$version" --test compile --test import --color no
  done
fi
