"""The dependency rule (app -> memory <- adapters) is checked by import-linter's contracts
in pyproject.toml; this test runs them so a violation fails the suite. The import graph of our
packages (grimp, import-linter's own graph builder) must have no circles, and only the process
entry point may import the commands. Importing `app` tunes nothing: `python -m app` does."""
from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from app.process import THREAD_VARIABLES

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_core_imports_no_adapter_or_web_module() -> None:
    code = (
        "import sys, memory.service, memory.filters, memory.events;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'app','graph','vector','history','aiohttp','strawberry','neo4j','hnswlib','sqlmodel','sqlalchemy'}];"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"the core pulled in: {proc.stdout}{proc.stderr}"


PACKAGES = ("app", "memory", "graph", "vector", "history")


def _import_graph() -> grimp.ImportGraph:
    # imports under `if TYPE_CHECKING:` never run, so they cannot make a circle at run time
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)


def _circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def _describe(graph: grimp.ImportGraph, group: list[str]) -> str:
    lines = [" <-> ".join(group)]
    for importer in group:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported in group:
                where = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
                lines.append(f"    {importer} imports {imported} (line {', '.join(map(str, where))})")
    return "\n".join(lines)


def test_no_module_imports_itself_through_others() -> None:
    for package in PACKAGES:  # the graph must be of this checkout, not of an installed copy
        assert Path(importlib.import_module(package).__file__ or "").resolve().is_relative_to(ROOT), package
    graph = _import_graph()
    circles = _circles(graph)
    assert not circles, "import circles:\n" + "\n".join(_describe(graph, c) for c in circles)


def test_the_circle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.d", "p.e")):
        graph.add_import(importer=importer, imported=imported)
    assert _circles(graph) == [["p.a", "p.b", "p.c"]]


def test_only_the_process_entry_point_imports_the_commands() -> None:
    graph = _import_graph()
    importers = {
        importer for module in graph.find_descendants("app.commands") | {"app.commands"}
        for importer in graph.find_modules_that_directly_import(module)
    }
    outside = sorted(m for m in importers if m != "app.__main__" and not m.startswith("app.commands"))
    assert not outside, f"below the entry points, these import app.commands: {outside}"


def test_importing_the_app_changes_nothing_in_the_process() -> None:
    code = (
        "import os; before = dict(os.environ);"
        "import app, app.web, app.bootstrap, app.commands.cli, app.process;"
        "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k));"
        "print(','.join(changed)); raise SystemExit(1 if changed else 0)"
    )
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"importing app changed the environment: {proc.stdout}{proc.stderr}"


def test_python_m_app_pins_threads_before_numpy_loads() -> None:
    # records what numpy would read at its first import, then runs `python -m app config check`
    code = (
        "import atexit, os, sys\n"
        "seen = {}\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'numpy' and name not in seen:\n"
        "            seen[name] = {v: os.environ.get(v) for v in %r}\n"
        "        return None\n"
        "sys.meta_path.insert(0, Watch())\n"
        "atexit.register(lambda: print('numpy saw', seen.get('numpy')))\n"
        "import runpy\n"
        "sys.argv = ['python -m app', 'config', 'check']\n"
        "runpy.run_module('app', run_name='__main__', alter_sys=True)\n"
    ) % (THREAD_VARIABLES,)
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES and not k.startswith("AGENTMEM_")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "configuration is valid" in proc.stdout
    assert f"numpy saw {dict.fromkeys(THREAD_VARIABLES, '1')}" in proc.stdout, proc.stdout + proc.stderr
