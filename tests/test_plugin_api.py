"""The plugins (``integrations/``) use only polydatum's public API and patch no framework class."""

from __future__ import annotations

import ast
from pathlib import Path

import polydatum

ROOT = Path(__file__).resolve().parent.parent
CORE = Path(polydatum.__file__).resolve().parent
PLUGINS = ROOT / "integrations"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _core_private_names() -> set[str]:
    """Every ``_``-prefixed name polydatum defines: attributes, slots, methods, functions."""
    names: set[str] = set()
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # __slots__ entries, getattr names
    return {name for name in names if _private(name)}


def _polydatum_bases(tree: ast.Module) -> set[str]:
    """Names bound by imports from polydatum in a module (its classes, its modules)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("polydatum"):
            bound.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("polydatum"):
                    bound.add((alias.asname or alias.name).split(".")[0])
    return bound


def _violations(path: Path, core_private: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found: list[tuple[int, str]] = []
    from_polydatum = _polydatum_bases(tree)
    imported = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    # Classes deriving from a polydatum class: their ``self._x`` may be the core's.
    core_subclasses: list[ast.ClassDef] = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            (isinstance(b, ast.Name) and b.id in from_polydatum)
            or (
                isinstance(b, ast.Attribute)
                and isinstance(b.value, ast.Name)
                and b.value.id in from_polydatum
            )
            for b in node.bases
        )
    ]
    in_core_subclass = {id(n) for cls in core_subclasses for n in ast.walk(cls)}
    for node in ast.walk(tree):
        lineno = getattr(node, "lineno", 0)
        line = f"{where}:{lineno}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("polydatum"):
            module = node.module or ""
            if any(_private(part) for part in module.split(".")):
                found.append((lineno, f"{line}: imports the private module {module}"))
            for alias in node.names:
                if _private(alias.name):
                    found.append(
                        (lineno, f"{line}: imports the private name {module}.{alias.name}")
                    )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("polydatum") and any(
                    _private(part) for part in alias.name.split(".")
                ):
                    found.append((lineno, f"{line}: imports the private module {alias.name}"))
        elif isinstance(node, ast.Attribute) and node.attr in core_private:
            owner = node.value
            own = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
            if not own or id(node) in in_core_subclass:
                found.append((lineno, f"{line}: reads polydatum's private attribute .{node.attr}"))
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id in imported - from_polydatum
                ):
                    found.append((lineno, f"{line}: patches {target.value.id}.{target.attr}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in imported - from_polydatum
        ):
            found.append((lineno, f"{line}: patches {node.args[0].id} with setattr"))
    return [message for _, message in sorted(found, key=lambda item: item[0])]


def test_plugins_use_only_polydatums_public_api() -> None:
    """No plugin imports a ``_`` name of polydatum, reads a ``_`` attribute of it or patches."""
    core_private = _core_private_names()
    assert {"_state", "_context_var", "_chain"} <= core_private  # the scan sees the core
    found = [
        violation
        for path in sorted(PLUGINS.rglob("*.py"))
        for violation in _violations(path, core_private)
    ]
    assert found == []


def test_the_scan_reports_each_kind_of_reach_in(tmp_path: Path) -> None:
    """The scan flags a private import, a private attribute, a core subclass's and a patch."""
    plugin = tmp_path / "probe.py"
    source = (
        "from polydatum._steps import _AACTIVE\n"
        "from polydatum.dal import _new\n"
        "from polydatum import asgi\n"
        "from starlette.datastructures import State\n"
        "def f(ctx):\n"
        "    return ctx._state\n"
        "class M(asgi.DatumMiddleware):\n"
        "    def g(self):\n"
        "        return self._context_var\n"
        "State.dal = property(f)\n"
    )
    plugin.write_text(source)
    found = _violations(plugin, _core_private_names())
    assert [message.split(": ", 1)[1] for message in found] == [
        "imports the private module polydatum._steps",
        "imports the private name polydatum._steps._AACTIVE",
        "imports the private name polydatum.dal._new",
        "reads polydatum's private attribute ._state",
        "reads polydatum's private attribute ._context_var",
        "patches State.dal",
    ], found
