"""The import rules of docs/architecture.md: data flows one way, configs -> distributions ->
engine -> reports, with the command line and the jobs that combine them (``jp2040``) on top.

Every import statement counts, including those inside functions (imported on first use).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("distributions", "engine", "reports", "jp2040", "configs", "tests", "bench", "tools")

# package -> the packages of ours it may import (besides itself)
ALLOWED = {
    "distributions": set(),
    "engine": {"distributions"},
    "reports": set(),
    "jp2040": {"distributions", "engine", "reports"},
}
# modules of a lower layer that any layer may import: leaves that import nothing of ours.
# engine.atomic (atomic file writes) serves the engine's checkpoints and results and the
# reports' files alike, so writing a report never starts the engine; engine.order_stats is the
# one quantile-MCSE convention of summary.csv and the reports' VaR.
LEAVES = ("engine.atomic", "engine.order_stats")


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, relative imports resolved; ``from a import
    b`` counts as ``a.b`` (b may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(root).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _leaf(module: str) -> bool:
    return any(module == leaf or module.startswith(leaf + ".") for leaf in LEAVES)


def violations(package: str, root: Path = ROOT) -> list[str]:
    """``path:line imports module`` for each import that breaks ``package``'s rule."""
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        for line, module in imports_of(path, root):
            top = module.split(".")[0]
            if top not in OURS or top == package or top in ALLOWED[package] or _leaf(module):
                continue
            bad.append(f"{path.relative_to(root)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_import_rules(package):
    assert violations(package) == []


def test_the_leaves_import_nothing_of_ours():
    for leaf in LEAVES:
        path = ROOT / (leaf.replace(".", "/") + ".py")
        assert [m for _, m in imports_of(path) if m.split(".")[0] in OURS] == []


@pytest.mark.parametrize(
    "package, source, caught",
    [
        ("engine", "from jp2040.cli import main\n", "jp2040.cli.main"),
        ("engine", "def f():\n    import reports.downside\n", "reports.downside"),
        ("reports", "from engine import results\n", "engine.results"),
        ("reports", "from engine.atomic import atomic_path\n", None),
        ("distributions", "from ..engine import run\n", "engine.run"),
    ],
)
def test_a_planted_import_is_caught(tmp_path, package, source, caught):
    """The check can fail: an upward import planted in a copy of a package is reported."""
    (tmp_path / package).mkdir()
    (tmp_path / package / "probe.py").write_text(source)
    found = violations(package, tmp_path)
    assert found == (
        [f"{package}/probe.py:{source.count(chr(10))} imports {caught}"] if caught else []
    )
