"""toylab's imports run one way: no module imports (at the top or inside a function) a module
that imports it back, and no part of the package (a top-level module or subpackage) imports a
part that imports it. Imports of a module's own parent packages are Python's, not a circle."""
import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "toylab"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(node, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The toylab modules an `import` / `from … import …` statement in `module` loads."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names} & modules
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    base = (f"{package}.{node.module}" if node.module else package) if node.level else node.module
    return ({base} | {f"{base}.{a.name}" for a in node.names}) & modules


def import_graph() -> dict[str, set[str]]:
    """Module → the toylab modules it imports, leaving out its own parent packages."""
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for module, path in files.items():
        parents = {module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)}
        graph[module] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module] |= imported(node, module, path.name == "__init__.py", set(files)) - parents - {module}
    return graph


def circle(graph: dict[str, set[str]]) -> list[str]:
    """One circle of imports, or [] when there is none."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as e:
        return e.args[1]
    return []


def test_no_module_imports_a_module_that_imports_it():
    assert circle(import_graph()) == []


def test_no_part_of_toylab_imports_a_part_that_imports_it():
    """Parts: `toylab.store`, `toylab.probes` (with its modules), …; e.g. a probe module that
    read run folders through `store` would run upward, since `store` depends on the probes."""
    part = lambda module: ".".join(module.split(".")[:2])  # noqa: E731
    parts = {}
    for module, targets in import_graph().items():
        parts.setdefault(part(module), set()).update(part(t) for t in targets if part(t) != part(module))
    assert circle(parts) == []
