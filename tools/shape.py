"""The platform's shape: modules per package, import cycles, the largest modules.

Reads ``src/isles`` (or the package given) with ``ast``: every import counts, also
those under ``if TYPE_CHECKING:`` and inside functions, since each is a dependency a
reader has to follow. A cycle is a strongly connected group of modules (two or more,
or one that imports itself).

    python tools/shape.py                 # the report
    python tools/shape.py --check         # exit 1 if there is any cycle
    python tools/shape.py --package src/hrms --top 5
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.AST, this: str, is_package: bool, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``this`` imports, wherever in the file."""
    found: set[str] = set()
    package = this if is_package else this.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
        for target in targets:
            # the longest known module the name starts with
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != this:
                found.add(target)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default="src/isles", help="the package folder (default src/isles)")
    parser.add_argument("--top", type=int, default=10, help="how many of the largest modules to list")
    parser.add_argument("--check", action="store_true", help="exit 1 if there is an import cycle")
    args = parser.parse_args()
    root = Path(args.package).resolve()
    if not (root / "__init__.py").is_file():
        print(f"{args.package}: not a package (no __init__.py)", file=sys.stderr)
        return 2
    files = {module_name(root, p): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    graph: dict[str, set[str]] = {}
    lines: dict[str, int] = {}
    for name, path in files.items():
        text = path.read_text()
        lines[name] = text.count("\n")
        graph[name] = imports_of(ast.parse(text, str(path)), name, path.name == "__init__.py", known)

    def owner(name: str) -> str:
        return name if files[name].name == "__init__.py" else name.rpartition(".")[0]

    packages = Counter(owner(name) for name in files)
    print(f"{root.name}: {len(files)} modules, {sum(lines.values())} lines")
    print("\nmodules per package")
    for package, count in sorted(packages.items()):
        size = sum(
            v
            for k, v in lines.items()
            if (k.rpartition(".")[0] == package and files[k].name != "__init__.py") or k == package
        )
        print(f"  {package:<40} {count:>4} modules {size:>7} lines")
    cycles = strongly_connected(graph)
    print(f"\nimport cycles: {len(cycles)}")
    for group in cycles:
        print(f"  {len(group)} modules: {', '.join(group)}")
    print("\nlargest modules")
    for name, count in sorted(lines.items(), key=lambda item: -item[1])[: args.top]:
        print(f"  {name:<40} {count:>7} lines")
    return 1 if args.check and cycles else 0


if __name__ == "__main__":
    sys.exit(main())
