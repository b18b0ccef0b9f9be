"""Claims that drop in like problems: one Python file per claim, found by file discovery.

A claim file in `claims/` of the repository (or in a folder of `$TOYLAB_CLAIMS`, separated by
`os.pathsep`) is named after its report (`claims/adam_update_rms.py` renders `reports/adam_update_rms/`)
and holds its whole declaration:

    SPEC      the runs, as the TOML text of a report spec (title, claim, question, seeds, steps,
              [[problems]], [[optimizers]], [quick]; `toylab.report`); no `analysis` key
    SETTINGS  the analysis's settings and their defaults, which the spec may override
              (`...` marks one the spec must give); `spec.settings` holds the merged values
    analyze   analyze(tables, spec) -> toylab.analyses.Analysis: label runs → per-replicate
              estimator → checks of `toylab.checks` → figure

`toylab list` lists the claims, `toylab report NAME` renders one, and its checks become rows of
`reports/claims.csv`. A file that fails to import is skipped with a one-line warning naming it;
files whose name starts with `_` are not claims.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .options import UserError, warn

FOLDER = Path(__file__).resolve().parent.parent / "claims"


@dataclass(frozen=True)
class Claim:
    name: str  # the file's stem: the report's folder name
    path: Path
    module: ModuleType

    @property
    def spec(self) -> str:
        return self.module.SPEC

    @property
    def settings(self) -> dict:
        return dict(getattr(self.module, "SETTINGS", {}))

    def analyze(self, tables, spec):
        return self.module.analyze(tables, spec)


BROKEN: dict[Path, str] = {}  # claim files that failed to load: path -> one-line reason


def claim_dirs() -> list[Path]:
    """`claims/` of the repository, then every folder in $TOYLAB_CLAIMS (os.pathsep-separated)."""
    return [FOLDER, *(Path(p) for p in os.environ.get("TOYLAB_CLAIMS", "").split(os.pathsep) if p)]


def discover() -> dict[str, Claim]:
    """Every claim file of the claim folders, by name (imported once per file). The same name in
    two folders is a `UserError`."""
    found: dict[str, Claim] = {}
    for path in _files():
        claim = _load(path)
        if claim is not None:
            _add(found, claim.name, claim)
    return found


def specs() -> dict[str, tuple[Path, str]]:
    """Every claim file's (path, SPEC text) by name, as `discover` finds them, read without
    running the file where SPEC is assigned once, a plain string (so a listing imports none of the
    plotting libraries the analyses use); any other file is loaded as `discover` loads it."""
    found: dict[str, tuple[Path, str]] = {}
    for path in _files():
        spec = _literal_spec(path)
        if spec is None:
            claim = _load(path)
            if claim is None:
                continue
            spec = claim.spec
        _add(found, path.stem, (path, spec))
    return found


def _files():
    """The claim files of the claim folders, in order, without those that failed to load."""
    for folder in claim_dirs():
        for path in sorted(Path(folder).glob("*.py")):
            path = path.resolve()
            if not path.name.startswith("_") and path not in BROKEN:
                yield path


def _add(found: dict, name: str, entry) -> None:
    """`found[name] = entry` (a Claim or a (path, spec) pair); the same name from another file is a `UserError`."""
    path = entry.path if isinstance(entry, Claim) else entry[0]
    if name in found:
        other = found[name].path if isinstance(found[name], Claim) else found[name][0]
        if other != path:
            raise UserError(f"claim {name!r} is defined twice: in {other} and in {path}; rename one of them")
    found[name] = entry


def _literal_spec(path: Path) -> str | None:
    """The string of the file's one module-level `SPEC = "..."`; None where the file does not parse,
    or SPEC is not assigned exactly once, as a plain string."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):
        return None
    def binds_spec(node) -> bool:  # SPEC = …, SPEC += …, for SPEC in …, import … as SPEC, from … import *
        if isinstance(node, ast.Name):
            return node.id == "SPEC" and isinstance(node.ctx, ast.Store)
        return isinstance(node, ast.alias) and (node.asname or node.name) in ("SPEC", "*")

    values = [node.value for node in tree.body if isinstance(node, ast.Assign)
              and [getattr(t, "id", None) for t in node.targets] == ["SPEC"]]
    if len(values) != 1 or sum(map(binds_spec, ast.walk(tree))) != 1:
        return None
    value = values[0]
    return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None


def _load(path: Path) -> Claim | None:
    name = f"toylab_claims.{path.stem}"
    module = sys.modules.get(name)
    if module is None or Path(module.__file__).resolve() != path:
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            missing = [k for k in ("SPEC", "analyze") if not hasattr(module, k)]
            if missing:
                raise AttributeError(f"no {missing[0]} (a claim file defines SPEC, SETTINGS and analyze)")
        except Exception as e:  # the author's code: any error, reported as one line
            sys.modules.pop(name, None)
            BROKEN[path] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
            warn(f"skipped claim file {path}: {BROKEN[path]}")
            return None
    return Claim(path.stem, path, module)


def get(name: str) -> Claim:
    found = discover()
    if name not in found:
        broken = "".join(f"; {path} failed to load ({why})" for path, why in BROKEN.items())
        raise UserError(f"unknown claim {name!r}; valid claims: {', '.join(sorted(found)) or 'none'}{broken}")
    return found[name]
