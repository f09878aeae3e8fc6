"""The house rules, checked on the source: rooms by role, imports one way, no circle, sizes.

Every module's AST is walked, function-level imports included. The rooms, bottom to top:

- ``core`` imports no other room;
- ``backends`` and ``report`` import only ``core``;
- ``engine`` imports ``core``, ``backends`` and ``report``;
- ``run`` imports every room below it;
- the root's public modules import any room but ``cli``;
- ``cli`` uses the public API only: the root's public modules, and public names of the modules
  that define what ``raybench`` and its public modules export (imported from where they live);
- ``raybench.__main__`` is the command line's entry point and imports ``cli``;
- nothing below the root imports the root package, and no import circle exists.

Lazy (function-level) imports of raybench modules are refused everywhere: they hid circles.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "raybench"
ROOMS = ("core", "telemetry", "backends", "report", "engine", "run", "cli")
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "telemetry": {"core"},
    "backends": {"core"},
    "report": {"core", "telemetry"},
    "engine": {"core", "backends", "report", "telemetry"},
    "run": {"core", "backends", "report", "engine", "telemetry"},
    "root": {"core", "backends", "report", "engine", "run", "root", "telemetry"},
    "cli": {"cli", "root", "public"},
}
PUBLIC_MODULES = ("cpu", "torch", "tensorflow", "mxnet", "model_index", "compare", "plot", "testing")
MAX_LINES, MAX_FUNCTION_LINES, MAX_FLAT = 400, 80, 14


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ROOMS) else "root"


@functools.lru_cache(maxsize=None)
def _imports(module: str) -> list[tuple[str, list[str], bool]]:
    """``(imported module, names, at function level)`` for every raybench import of ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], id(node) in nested) for a in node.names if a.name.split(".")[0] == "raybench"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).rstrip(".")
            if base.split(".")[0] == "raybench":
                out.append((base, [a.name for a in node.names], id(node) in nested))
    return out


def _defining_module(owner: object, name: str) -> str | None:
    """The raybench module whose source defines ``name`` (found through ``__module__``, or for a
    plain value such as a schema, by the module-level assignment)."""
    value = getattr(owner, name)
    defined_in = getattr(value, "__module__", None)
    if isinstance(defined_in, str) and not isinstance(value, (str, tuple, list, dict)):
        return defined_in
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return module
    return None


@functools.lru_cache(maxsize=1)
def _api_modules() -> frozenset[str]:
    """The modules that define what ``raybench`` and its public modules export."""
    import raybench

    out = set()
    for owner in (raybench, *(importlib.import_module(f"raybench.{name}") for name in PUBLIC_MODULES)):
        for name in getattr(owner, "__all__", ()):
            defined_in = _defining_module(owner, name)
            if defined_in is not None and defined_in.startswith("raybench."):
                out.add(defined_in)
    return frozenset(out)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module: str) -> None:
    room = _room(module)
    api_modules = _api_modules()
    for target, names, lazy in _imports(module):
        assert not lazy, f"{module}: a function-level import of {target}"
        assert target != "raybench" or module == "raybench", f"{module} imports the root package"
        if target == "raybench":
            continue
        target_room = _room(target)
        if module == "raybench.__main__":
            assert target.startswith("raybench.cli"), f"{module} imports {target}"
        elif room == "cli" and target_room not in ("cli", "root"):
            assert target in api_modules and not any(n.startswith("_") for n in names), (
                f"{module}: {target} {names} is not the public API")
        else:
            assert target_room in ALLOWED[room] or target_room == room, (
                f"{module} ({room}) imports {target} ({target_room})")


def test_no_import_circle() -> None:
    graph = {m: {t for t, names, _ in _imports(m) for t in [t, *(f"{t}.{n}" for n in names)] if t in MODULES and t != m}
             for m in MODULES}
    seen: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in graph[node]:
            assert seen.get(nxt) != 1, "import circle: " + " -> ".join(path[path.index(nxt):] + [node, nxt])
            if nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for module in MODULES:
        if module not in seen:
            visit(module, [module])


def test_sizes_stay_livable() -> None:
    problems = []
    for module, path in MODULES.items():
        source = path.read_text()
        if source.count("\n") > MAX_LINES:
            problems.append(f"{module}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.end_lineno - node.body[0].lineno + 1
                if body > MAX_FUNCTION_LINES:
                    problems.append(f"{module}.{node.name}: {body} lines")
    assert len([p for p in PACKAGE.glob("*.py")]) <= MAX_FLAT
    assert not problems, problems


def test_every_public_module_declares_its_api() -> None:
    for name in PUBLIC_MODULES:
        module = importlib.import_module(f"raybench.{name}")
        assert module.__all__, name
        assert all(hasattr(module, item) for item in module.__all__), name
