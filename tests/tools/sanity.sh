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
cp "$repo/tests/tools/get_pip_offline.py" "$shim"
work="${SANITY_WORKDIR:-/tmp/datasync-sanity-$(id -u)}/ansible_collections/sciops/datasync"
rm -rf "$work" && mkdir -p "$work"
tar -C "$repo" --exclude=./.git --exclude=./.venv --exclude=./.lab --exclude=./.cache --exclude=./.collections \
  --exclude=./.ansible --exclude=./tests/output --exclude=__pycache__ --exclude=.pytest_cache -cf - . | tar -C "$work" -xf -
cd "$work"
exec ansible-test sanity --venv --python "${SANITY_PYTHON:-3.13}" --color no "$@"
