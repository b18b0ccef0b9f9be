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
    for folder in claim_dirs():
        for path in sorted(Path(folder).glob("*.py")):
            path = path.resolve()
            if path.name.startswith("_") or path in BROKEN:
                continue
            claim = _load(path)
            if claim is None:
                continue
            if claim.name in found and found[claim.name].path != path:
                raise UserError(f"claim {claim.name!r} is defined twice: in {found[claim.name].path} and in {path}; "
                                "rename one of them")
            found[claim.name] = claim
    return found


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
