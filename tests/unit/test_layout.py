"""The module_utils layers: shared packages under job packages, no job importing another, no cycle."""

import ast
import pathlib

PLUGINS = pathlib.Path(__file__).resolve().parents[2] / "plugins"
PREFIX = "ansible_collections.sciops.datasync.plugins.module_utils."
SHARED = {"_core": set(), "_globus": {"_core"}}
JOBS = ("_identity", "_collection_sync", "_epn", "_pools", "_experiment")
# Checks across the jobs: the pre-flight reads the PVs as the experiment job does and lists a pool as the pool job does.
CHECKS = {"_preflight": {"_core", "_globus", "_experiment", "_pools"}}


def own_imports(path):
    """Dotted names under module_utils that a file imports (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            base = node.module[len(PREFIX):]
            found.update(base + "." + alias.name if "." not in base else base for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name[len(PREFIX):] for a in node.names if a.name.startswith(PREFIX))
    return found


def package_files():
    return sorted((PLUGINS / "module_utils").glob("_*/*.py"))


def test_every_package_is_a_known_layer():
    packages = {p.name for p in (PLUGINS / "module_utils").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(SHARED) | set(JOBS) | set(CHECKS)
    assert not list((PLUGINS / "module_utils").glob("*.py")), "module_utils files live in a package"


def test_each_package_imports_only_the_layers_below_it():
    allowed = dict(SHARED, **{job: {"_core", "_globus"} for job in JOBS}, **CHECKS)
    wrong = []
    for path in package_files():
        package = path.parent.name
        for name in own_imports(path):
            target = name.split(".")[0]
            if target != package and target not in allowed[package]:
                wrong.append("%s/%s imports %s" % (package, path.name, name))
    assert not wrong


def test_the_module_graph_has_no_cycle():
    graph = {}
    for path in package_files():
        graph["%s.%s" % (path.parent.name, path.stem)] = {n for n in own_imports(path) if n.count(".") == 1}
    visiting, done = set(), set()

    def visit(node, trail):
        assert node not in visiting, "import cycle: " + " -> ".join(trail + [node])
        if node in done:
            return
        visiting.add(node)
        for child in graph.get(node, ()):
            visit(child, trail + [node])
        visiting.discard(node)
        done.add(node)

    for node in graph:
        visit(node, [])


def test_plugins_never_import_the_lab():
    offenders = [str(p) for p in PLUGINS.rglob("*.py") if "tests.lab" in p.read_text()]
    assert not offenders


def documented_tree():
    """{package: {file, ...}} from the folder tree in docs/architecture.md."""
    text = (PLUGINS.parent / "docs" / "architecture.md").read_text()
    tree, package = {}, None
    for line in text.splitlines():
        stripped = line.strip().split(" ")[0]
        if line.startswith("  _") and stripped.endswith("/"):
            package = stripped.rstrip("/")
            tree[package] = set()
        elif package and line.startswith("    ") and stripped.endswith(".py"):
            tree[package].add(stripped)
        elif not line.startswith("  "):
            package = None
    return tree


def test_the_architecture_page_lists_every_package_and_file():
    actual = {p.name: {f.name for f in p.glob("*.py") if f.name != "__init__.py"}
              for p in (PLUGINS / "module_utils").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert documented_tree() == actual
