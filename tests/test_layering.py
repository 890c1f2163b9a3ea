"""Imports run one way: command-line modules on top, library below; data/ and models/ below engine/; eval/, spans.py,
utils/ torch-free.

Read from the source (every import statement, at module level or inside functions), so a late import inside a
function cannot hide a backwards edge.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "trdetr_cap"
CLI_LAYER = ("trdetr_cap.cli", "trdetr_cap.__main__", "trdetr_cap.commands")  # the dispatcher and its commands


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (what runs under ``python -m`` only)."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


def imports(tree: ast.Module) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, module, imported names) of every import outside a ``__main__`` guard. The package uses absolute
    imports only (a relative one fails here, so the rule cannot be dodged by one)."""
    guarded = {id(n) for stmt in tree.body if is_main_guard(stmt) for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"line {node.lineno}: relative import"
            found.append((node.lineno, node.module, tuple(a.name for a in node.names)))
    return found


def parse_package() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def in_cli_layer(name: str) -> bool:
    return name.endswith(".__main__") or any(name == m or name.startswith(m + ".") for m in CLI_LAYER)


def cli_modules(trees: dict[str, ast.Module]) -> set[str]:
    """The dispatcher, ``__main__`` modules, commands, every module with a top-level ``main``, and the shims that
    only re-export a ``main``."""
    cli = {n for n, t in trees.items()
           if in_cli_layer(n) or any(isinstance(s, ast.FunctionDef) and s.name == "main" for s in t.body)}
    for name, tree in trees.items():
        found = imports(tree)
        if found and all(mod in cli and names == ("main",) for _, mod, names in found):
            cli.add(name)
    return cli


def test_nothing_imports_a_command_line_module():
    trees = parse_package()
    cli = cli_modules(trees)
    assert "trdetr_cap.inference" in cli and "trdetr_cap.eval.__main__" in cli  # the rule sees the CLIs it guards
    wrong = []
    for name, tree in trees.items():
        for line, mod, names in imports(tree):
            targets = [mod] + [f"{mod}.{n}" for n in names]
            hit = next((t for t in targets if t in cli or in_cli_layer(t)), None)
            if hit is None or hit == name:
                continue
            wiring = names == ("main",) or (in_cli_layer(name) and in_cli_layer(hit))  # shims and the dispatcher
            if name in cli and wiring:
                continue
            wrong.append(f"{name} (line {line}) imports {hit}" + (f" ({', '.join(names)})" if names else ""))
    assert not wrong, "library code must not import command-line modules:\n" + "\n".join(wrong)


@pytest.mark.parametrize("prefix", ["trdetr_cap.eval", "trdetr_cap.spans", "trdetr_cap.utils"])
def test_torch_free_modules_never_import_torch_at_import_time(prefix):
    trees = parse_package()
    for name, tree in trees.items():
        if name != prefix and not name.startswith(prefix + "."):
            continue
        top_level = [mod for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
                     for mod in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])]
        assert not [m for m in top_level if m and m.split(".")[0] == "torch"], f"{name} imports torch"
    probe = (f"import sys, importlib, pkgutil, {prefix} as m; "
             "[importlib.import_module(i.name) for i in pkgutil.walk_packages(getattr(m, '__path__', []), "
             "m.__name__ + '.')]; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_data_and_models_never_import_engine():
    wrong = [f"{name} (line {line}) imports {mod}" for name, tree in parse_package().items()
             if name.startswith(("trdetr_cap.data", "trdetr_cap.models"))
             for line, mod, _ in imports(tree) if mod == "trdetr_cap.engine" or mod.startswith("trdetr_cap.engine.")]
    assert not wrong, "\n".join(wrong)
