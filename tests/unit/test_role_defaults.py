"""A role default and the module option it feeds agree wherever both have a default.

The mapping is read from every task of a role that calls one of the collection's modules
(``option: "{{ role_var ... }}"``: tasks/run.yml, and the timers and group tasks), so this test
follows it when it changes. Module defaults come from the module's DOCUMENTATION plus its doc
fragments.
"""

import ast
import glob
import os
import re
import runpy

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "sciops.datasync."
# "{{ var }}" or "{{ var | int }}" (filters that keep the value), or a loop item's or the caller's
# own value that falls back to the role variable ("{{ item.x | default(var) | bool }}",
# "{{ run_var or var }}"); anything else is not a plain mapping.
_KEEP = r"\s*(\|\s*(int|bool|string)\s*)*\}\}$"
PLAIN = re.compile(r"^\{\{\s*([a-z_][a-z0-9_]*)" + _KEEP)
FALLBACK = re.compile(r"^\{\{\s*[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\s*\|\s*default\(\s*([a-z_][a-z0-9_]*)\s*\)" + _KEEP)
OR_FALLBACK = re.compile(r"^\{\{\s*[a-z_][a-z0-9_]*\s+or\s+([a-z_][a-z0-9_]*)" + _KEEP)


def _module_tasks(tasks):
    """Every task of a task list (blocks included) that calls a module of the collection."""
    for task in tasks or []:
        for key in ("block", "rescue", "always"):
            yield from _module_tasks(task.get(key))
        if any(key.startswith(PREFIX) for key in task):
            yield task


def role_tasks(role):
    found = []
    for path in sorted(glob.glob(os.path.join(REPO, "roles", role, "tasks", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            found += _module_tasks(yaml.safe_load(handle))
    return found


# Every role whose tasks call a module of the collection.
ROLES = tuple(sorted(role for role in os.listdir(os.path.join(REPO, "roles")) if role_tasks(role)))


def _assigned(path, name):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return yaml.safe_load(node.value.value)
    return None


def module_options(module):
    path = os.path.join(REPO, "plugins", "modules", module + ".py")
    doc = _assigned(path, "DOCUMENTATION")
    options = {}
    for fragment in doc.get("extends_documentation_fragment") or []:
        name = fragment[len(PREFIX):] if fragment.startswith(PREFIX) else fragment
        file_name, attribute = (name.split(".", 1) + [""])[:2]
        # Loaded as ansible loads it: a fragment's text may be built from shared parts.
        fragment_class = runpy.run_path(os.path.join(REPO, "plugins", "doc_fragments", file_name + ".py"))["ModuleDocFragment"]
        fragment_doc = yaml.safe_load(getattr(fragment_class, (attribute or "documentation").upper()))
        options.update((fragment_doc or {}).get("options") or {})
    # As ansible merges: a module's entry for a fragment's option replaces only the keys it names.
    for option, spec in (doc.get("options") or {}).items():
        options[option] = dict(options.get(option) or {}, **spec)
    return options


def _mappings(args, options, prefix=""):
    """(option path, option doc, role variable) for each plain "{{ var }}" argument, suboptions too."""
    for option, value in args.items():
        spec = options.get(option)
        if spec is None:
            continue
        if isinstance(value, dict):
            yield from _mappings(value, spec.get("suboptions") or {}, prefix + option + ".")
        elif isinstance(value, str):
            match = PLAIN.match(value.strip()) or FALLBACK.match(value.strip()) or OR_FALLBACK.match(value.strip())
            if match and match.group(1) != "omit":
                yield prefix + option, spec, match.group(1)


def role_mappings(role):
    found = []
    for task in role_tasks(role):
        for key in (key for key in task if key.startswith(PREFIX)):
            options = module_options(key[len(PREFIX):])
            unknown = sorted(set(task[key]) - set(options))
            assert not unknown, "%s task %r passes options %s doesn't document: %s" % (role, task.get("name"), key, unknown)
            found += [(key, option, spec, var) for option, spec, var in _mappings(task[key], options)]
    return found


def role_modules(role):
    return {key for task in role_tasks(role) for key in task if key.startswith(PREFIX)}


def role_defaults(role):
    with open(os.path.join(REPO, "roles", role, "defaults", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _same(role_value, spec):
    module_value = spec["default"]
    kind = spec.get("type")
    if kind == "int":
        return int(role_value) == int(module_value)
    if kind == "bool":
        return bool(role_value) == bool(module_value)
    if kind == "str" or isinstance(module_value, str):
        return str(role_value) == str(module_value)
    return role_value == module_value


def _literal_pair(role, spec, var):
    """Both sides have a literal default: the role's is not built from other variables."""
    defaults = role_defaults(role)
    if var not in defaults or spec.get("default") is None:
        return False
    value = defaults[var]
    return not (isinstance(value, str) and "{{" in value)


# Only the pairs where both the role and the module have a literal default: the others have
# nothing to compare (a test per pair that could only skip would hide the count).
CASES = [(role, module, option, spec, var) for role in ROLES for module, option, spec, var in role_mappings(role)
         if _literal_pair(role, spec, var)]


def test_the_job_roles_are_found():
    assert set(ROLES) >= {"gosync", "collection_sync", "mxsync", "transfer_pools"}


def test_the_role_tasks_map_role_variables():
    for role in ROLES:
        variables = {var for _m, _o, _s, var in role_mappings(role)}
        assert variables, "%s maps no role variable to a module option" % role
        defaults = role_defaults(role)
        # Per-run parameters (<role>_run_*, <role>_<step>_run_*) are set by the caller.
        missing = sorted(v for v in variables if v not in defaults and not re.match(role + r"_([a-z]+_)?run_", v))
        assert not missing, "%s reads variables without a role default: %s" % (role, missing)


def test_every_role_has_pairs_to_compare():
    roles = {case[0] for case in CASES}
    assert roles == set(ROLES), "roles without a role default / module default pair: %s" % sorted(set(ROLES) - roles)


@pytest.mark.parametrize("role", ROLES)
def test_every_module_a_role_calls_maps_role_variables(role):
    mapped = {module for module, _o, _s, _v in role_mappings(role)}
    assert mapped == role_modules(role), "%s calls modules that take no role variable: %s" % (role, sorted(role_modules(role) - mapped))


@pytest.mark.parametrize("role,module,option,spec,var", CASES,
                         ids=["%s:%s" % (c[4], c[2]) for c in CASES])
def test_role_default_agrees_with_module_default(role, module, option, spec, var):
    value = role_defaults(role)[var]
    assert _same(value, spec), "%s: role default %r, but %s option %s documents default %r" % (
        var, value, module, option, spec["default"])
