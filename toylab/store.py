"""Run folders: one per config hash, published whole or not at all, and trusted only if they verify.

    <root>/<hash>/config.json      everything needed to re-run (RunConfig.to_dict)
    <root>/<hash>/metrics.parquet  tidy: step, metric, value
    <root>/<hash>/<table>.parquet  probe tables, tidy
    <root>/<hash>/status.json      written last: finished, diverged_step, seconds, and for
                                   every table its size and sha256, and the source hashes

Each writer builds its run in a folder of its own, `<root>/.<hash>.<random>.partial`, and
publishes it with one rename. If a verified run appeared under the hash meanwhile (another
shard, another machine), it is kept and the copy dropped. A broken folder, or any folder under
`force`, is first renamed aside (`.<hash>.<random>.aside`) and deleted only after the new one
is in place; a process killed in between leaves the old run aside, and `restore` puts it back.

A run is finished only if `verify` finds nothing wrong: status.json parses and says finished,
every table it lists exists with its recorded size and sha256 (and no other), and config.json
hashes, with the recorded source hashes, to the folder's name.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd

from .config import RunConfig, config_hash
from .options import Failure, UserError, format_value

STALE_PARTIAL_SECONDS = 3600  # a .partial older than this was left by a killed writer
PUBLISH_ATTEMPTS = 8


def run_dir(root: Path, config: RunConfig) -> Path:
    return Path(root) / config.hash()


# ----- verification ---------------------------------------------------------------------------------
def _read_json(path: Path, missing: str):
    """(the parsed file, None), or (None, what is wrong): `missing` when it does not exist."""
    try:
        return json.loads(path.read_text()), None
    except FileNotFoundError:
        return None, missing
    except (OSError, ValueError) as e:
        return None, f"{path.name} is not readable JSON ({type(e).__name__})"


def verify(path: Path, name: str | None = None) -> str | None:
    """None if `path` holds a finished, intact run named `name` (default: the folder's name);
    otherwise what is wrong, in a few words."""
    path = Path(path)
    if not path.is_dir():
        return "is a file, not a run folder" if os.path.lexists(path) else "does not exist"
    status, problem = _read_json(path / "status.json", "has no status.json (the run did not finish)")
    problem = problem or _status_problem(status)
    if problem:
        return problem
    config, problem = _read_json(path / "config.json", "has no config.json")
    if problem:
        return problem
    if config_hash(config, status["sources"]) != (name or path.name):
        return "config.json does not hash to the folder's name (a different run's config)"
    for table, expected in status["tables"].items():
        try:  # another writer may move the folder aside while it is read: then it is not trusted
            size, sha = (path / table).stat().st_size, file_sha256(path / table)
        except OSError:
            return f"{table}, listed in status.json, is missing or unreadable"
        if size != expected["bytes"]:
            return f"{table} has {size} bytes, status.json says {expected['bytes']}"
        if sha != expected["sha256"]:
            return f"{table} does not match the sha256 in status.json"
    extra = sorted(p.name for p in path.glob("*.parquet") if p.name not in status["tables"])
    if extra:
        return f"{extra[0]} is not listed in status.json"
    return None


def _status_problem(status) -> str | None:
    if not isinstance(status, dict):
        return f"status.json holds a {type(status).__name__}, not an object"
    if status.get("status") != "finished":
        return f"status is {status.get('status')!r}, not 'finished'"
    tables, sources, seconds = status.get("tables"), status.get("sources"), status.get("seconds", 0.0)
    if not isinstance(tables, dict) or "metrics.parquet" not in tables or not all(
            isinstance(v, dict) and isinstance(v.get("bytes"), int) and isinstance(v.get("sha256"), str)
            for v in tables.values()):
        return "status.json does not list its tables with sizes and checksums (an older or broken run)"
    if not isinstance(sources, dict) or not all(isinstance(sources.get(k), str) for k in ("problem", "toylab")):
        return "status.json has no source hashes"
    if "diverged_step" not in status:
        return "status.json has no diverged_step"
    diverged = status["diverged_step"]
    if diverged is not None and (not isinstance(diverged, int) or isinstance(diverged, bool) or diverged < 1):
        return f"status.json has a bad diverged_step {diverged!r}"
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return f"status.json has a bad seconds {seconds!r}"
    return None


def is_finished(path: Path) -> bool:
    return verify(path) is None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----- writing and publishing ------------------------------------------------------------------------
def write_run(path: Path, config: RunConfig, tables: dict[str, pd.DataFrame], status: dict,
              force: bool = False, sweep: bool = True) -> bool:
    """Write the run into a private folder and publish it at `path`. Returns False when a
    verified run was already there (without `force`): that one is kept, this copy dropped.
    `sweep=False` leaves the leftovers of its hash to a later `sweep_leftovers` over many runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.partial"
    build.mkdir()  # not mkdtemp: its 0700 would keep other users of a shared root out
    try:
        (build / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        listed = {}
        for name, frame in tables.items():
            frame.reset_index(drop=True).to_parquet(build / f"{name}.parquet")
            listed[f"{name}.parquet"] = {"bytes": (build / f"{name}.parquet").stat().st_size,
                                         "sha256": file_sha256(build / f"{name}.parquet")}
        status = {**status, "tables": listed, "sources": config.sources()}
        (build / "status.json").write_text(json.dumps(status, indent=2))
        return _publish(build, path, force, sweep)
    finally:
        _remove(build)


def _publish(build: Path, path: Path, force: bool, sweep: bool = True) -> bool:
    """Rename `build` onto `path`; what was there (broken, or any run under `force`) is moved
    aside first and deleted once a verified run is in place."""
    asides = []
    for _ in range(PUBLISH_ATTEMPTS):
        if not force and verify(path) is None:
            published = False
            break
        if os.path.lexists(path):
            asides.append(_move_aside(path))
        try:
            _place(build, path)
            published = True
            break
        except OSError as e:  # another writer placed a folder since: look again
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise
    else:
        raise Failure(f"could not publish {path}: other writers kept replacing it")
    for aside in asides:
        _remove(aside)
    if sweep:
        _sweep_leftovers(path)
    return published


def _move_aside(path: Path) -> Path | None:
    aside = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.aside"
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another writer moved it first
        return None
    return aside


def _place(build: Path, path: Path) -> None:
    os.rename(build, path)


def hidden_entries(root: Path) -> dict[str, list[Path]]:
    """The hidden entries of `root` (asides, trash, partial builds: `.<run>.<…>`) by the run
    folder name they belong to, from one listing, so that work on many runs of a big folder
    reads it once instead of once per run."""
    found: dict[str, list[Path]] = {}
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                found.setdefault(entry.name[1:].split(".", 1)[0], []).append(Path(entry.path))
    return found


def _hidden_of(path: Path, hidden: dict[str, list[Path]] | None) -> list[Path]:
    """`.<name>.*` beside `path`: from a listing made before, or by listing the folder now."""
    return hidden.get(path.name, []) if hidden is not None else list(path.parent.glob(f".{path.name}.*"))


def restore(path: Path, hidden: dict[str, list[Path]] | None = None) -> bool:
    """If a writer was killed with the old run aside and the new one not in place, put back
    the newest verified aside. True if a run was restored. `hidden`: a `hidden_entries` listing."""
    path = Path(path)
    if os.path.lexists(path):
        return False
    asides = sorted((p for p in _hidden_of(path, hidden) if p.name.endswith(".aside")), key=_mtime, reverse=True)
    for aside in asides:
        if verify(aside, name=path.name) is None:
            try:
                os.rename(aside, path)
                return True
            except OSError:
                return os.path.lexists(path)
    return False


def sweep_leftovers(root: Path, names: list[str]) -> None:
    """`_sweep_leftovers` for the runs `names` of `root` (each verified in place), with one listing."""
    hidden = hidden_entries(root)
    for name in names:
        _sweep_leftovers(Path(root) / name, hidden)


def _sweep_leftovers(path: Path, hidden: dict[str, list[Path]] | None = None) -> None:
    """With a verified run at `path`: delete asides and trash of its hash, and partial folders
    older than an hour (a live writer's build is seconds old: it is made after the computation)."""
    now = time.time()
    for p in _hidden_of(path, hidden):
        if p.name.endswith((".aside", ".trash")) or (
                p.name.endswith(".partial") and now - _mtime(p) > STALE_PARTIAL_SECONDS):
            _remove(p)


def _remove(path: Path | None) -> None:
    """Delete a file or folder; a folder is first renamed to `.trash` so no reader restores it."""
    if path is None or not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        trash = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.trash")
        with contextlib.suppress(OSError):
            os.rename(path, trash)
            path = trash
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def check_writable(root: Path, what: str = "--out") -> None:
    """A one-line `UserError` now, rather than a traceback after the computation."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"{what} {root} is not a writable folder ({e.strerror or type(e).__name__})") from None


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary name beside `path`, renamed onto `path` when the block succeeds, so a
    reader (or a concurrent writer of the same file) never sees a half-written file."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


# ----- reading ----------------------------------------------------------------------------------------
def read_status(path: Path) -> dict:
    return json.loads((Path(path) / "status.json").read_text())


def read_config(path: Path) -> RunConfig:
    return RunConfig.from_dict(json.loads((Path(path) / "config.json").read_text()))


def config_columns(config: RunConfig) -> dict:
    """The config flattened to scalar columns: hyperparameters and problem options by name."""
    cols = {"run": config.hash(), "problem": config.problem, "optimizer": config.optimizer,
            "seed": config.seed, "steps": config.steps, "label": config.label()}
    for name, value in config.problem_options.items():
        cols[name if name not in config.hparams else f"problem_{name}"] = _scalar(value)
    cols.update({name: _scalar(v) for name, v in config.hparams.items()})
    cols.update({f"{name}_schedule": spec for name, spec in config.schedules.items()})
    return cols


def _scalar(value):
    return format_value(value) if isinstance(value, tuple) else value


def load_table(root: Path, configs: list[RunConfig], table: str = "metrics") -> pd.DataFrame:
    """Concatenate one table over finished runs, with each run's config as columns. A run
    without the table (or whose folder is being replaced right now) has no rows."""
    frames, columns = [], []
    for config in {c.hash(): c for c in configs}.values():
        path = run_dir(root, config)
        try:
            frame, status = pd.read_parquet(path / f"{table}.parquet"), read_status(path)
        except (OSError, ValueError):
            continue
        frames.append(frame)
        columns.append({**config_columns(config), "diverged_step": status.get("diverged_step")})
    if not frames:
        return pd.DataFrame()
    return with_run_columns(frames, columns)


def with_run_columns(frames: list[pd.DataFrame], columns: list[dict]) -> pd.DataFrame:
    """The runs' tables stacked, each row carrying its run's `columns` (built once per run, one
    dict per frame, with `diverged_step`), plus `diverged`."""
    rows = pd.DataFrame(columns).loc[[i for i, f in enumerate(frames) for _ in range(len(f))]]
    out = pd.concat([pd.concat(frames, ignore_index=True), rows.reset_index(drop=True)], axis=1)
    out["diverged"] = out["diverged_step"].notna()
    return out
