"""Code lines per claim file: every line except the module docstring, the SPEC and NOTES
assignments (declared text), blank lines and comment-only lines; in brackets, the count with
the NOTES lines included.

    .venv/bin/python scripts/claim_lines.py [claims/NAME.py ...]
"""
import ast
import sys
from pathlib import Path


def code_lines(path: Path, text=("SPEC", "NOTES")) -> int:
    source = path.read_text()
    skip = set()
    for i, node in enumerate(ast.parse(source).body):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        declared = isinstance(node, ast.Assign) and any(getattr(t, "id", None) in text for t in node.targets)
        if docstring or declared:
            skip.update(range(node.lineno, node.end_lineno + 1))
    return sum(1 for n, line in enumerate(source.splitlines(), 1)
               if n not in skip and line.strip() and not line.strip().startswith("#"))


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted(Path(__file__).resolve().parent.parent.glob("claims/*.py"))
    for p in sorted(paths, key=code_lines, reverse=True):
        print(f"{code_lines(p):4d} ({code_lines(p, ('SPEC',)):4d})  {p.stem}")
