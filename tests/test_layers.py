"""The package reads bottom-up: which module may import which, pinned with `ast` so a
shortcut that ties the layers into a knot fails here, not in a review."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tlbuild"
SOURCES = {"unifi", "unifi_snapshots", "axis_timelapse2", "s3_frames", "frigate",
           "frigate_snapshots", "folder", "snapshot"}  # the systems
ABOVE_SOURCES = {"graph", "cli", "batch", "doit_vars", "report", "rollup", "publish",
                 "status", "prune", "pruned", "doctor", "demo"}
LOW = {"files", "errors", "stop", "handover", "layout", "days", "records", "http", "stills",
       "ffmpeg", "probe", "terminal", "runtime", "taskdef", "verify", "build", "config",
       "selection", "render_plan", "overlay", "clipindex", "slots", "progress", "doitrun",
       "settings", "source", "s3_client", "downloads", "imagetime", "imagefolder"}
EDGES = {"cli", "demo"}  # where a first-party import may wait inside a function


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] == "sim":  # the simulators: test peers and demos, not the tool
            continue
        found[".".join(p for p in parts if p != "__init__") or "__init__"] = path
    return found


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(first-party module imported, at module level?) for every relative import."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    if name == "__init__":
        package = []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            targets = [target] if node.module else [
                ".".join([*base, alias.name]) for alias in node.names]
            found += [(t, id(node) in top) for t in targets]
    return found


def test_first_party_imports_sit_at_module_top():
    late = [(name, target) for name, path in modules().items()
            if name.split(".")[0] not in EDGES
            for target, at_top in imports(name, path) if not at_top]
    assert late == []


def test_sources_import_neither_each_other_nor_what_sits_above_them():
    for name, path in modules().items():
        if not (name.startswith("sources.") and name.split(".")[1] in SOURCES):
            continue
        for target, _ in imports(name, path):
            first = target.split(".")[0]
            assert first not in ABOVE_SOURCES, f"{name} imports {target}"
            if first == "sources" and target != "sources":
                assert target.split(".")[1] not in SOURCES, f"{name} imports {target}"


def test_shared_code_names_no_camera_system():
    """Outside sources/, only the registry is imported: a new system is its own
    modules and one registry entry (`axis-download` is the Axis command's own edge)."""
    for name, path in modules().items():
        if name.startswith("sources") or name == "cli.axis_download":
            continue
        for target, _ in imports(name, path):
            assert not target.startswith("sources."), f"{name} imports {target}"


def test_lower_layers_know_no_source_and_no_namespace():
    for name, path in modules().items():
        if name not in LOW:
            continue
        for target, _ in imports(name, path):
            first = target.split(".")[0]
            assert first != "sources" and first not in ABOVE_SOURCES, \
                f"{name} imports {target}"


def test_no_import_circle():
    graph = {name: {target for target, at_top in imports(name, path) if at_top}
             for name, path in modules().items()}
    # importing a.b runs a's __init__ first (unless the importer is inside a: a
    # package's own modules import each other while it loads)
    for name in graph:
        graph[name] |= {parent for t in set(graph[name])
                        for i in range(1, t.count(".") + 1)
                        if not (name + ".").startswith(
                            (parent := ".".join(t.split(".")[:i])) + ".")}
    graph = {name: {t for t in targets if t in graph and t != name}
             for name, targets in graph.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                raise AssertionError("import circle: " + " -> ".join(
                    [*trail[trail.index(target):], target]))
            if target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
