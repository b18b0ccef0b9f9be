"""Run folders: one per config hash, published whole or not at all, and trusted only if they verify.

    <root>/<hash>/config.json      everything needed to re-run (RunConfig.to_dict)
    <root>/<hash>/metrics.parquet  tidy: step, metric, value
    <root>/<hash>/<table>.parquet  probe tables, tidy
    <root>/<hash>/status.json      written last: finished, diverged_step, seconds, and for
                                   every table its size and sha256, and the source hashes

Each writer builds its run in a folder of its own, `<root>/.<hash>.<random>.<owner>.partial`
(owner: its pid, pid namespace and host), and publishes it with one rename. If a verified run
appeared under the hash meanwhile (another shard, another machine), it is kept and the copy
dropped. A broken folder, or any folder under `force`, is first renamed aside
(`.<hash>.<random>.aside`) and deleted only after the new one is in place; a process killed in
between leaves the old run aside, and `restore` puts it back.

A partial folder whose owner process is gone (same host and pid namespace) is swept by the
next command that writes into the root; one whose owner cannot be checked (another machine, an
older toylab) after an hour.

A run is finished only if `verify` finds nothing wrong: status.json parses and says finished,
every table it lists exists with its recorded size and sha256 (and no other) and names a probe
of the config, config.json hashes, with the recorded source hashes, to the folder's name, and
the metrics table confirms what status.json claims: the run finished (its steps are the ones
config.json records: 0, every `metric_every`-th and the last) and diverged where it says (every
value NaN from `diverged_step` on, the batch loss finite at every recorded step before it, or at
every step when it never diverged: the engine marks a config diverged at the first step whose
loss is not finite).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
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
    contents = {}
    for table, expected in status["tables"].items():
        try:  # another writer may move the folder aside while it is read: then it is not trusted
            contents[table] = (path / table).read_bytes()
        except OSError:
            return f"{table}, listed in status.json, is missing or unreadable"
        if len(contents[table]) != expected["bytes"]:
            return f"{table} has {len(contents[table])} bytes, status.json says {expected['bytes']}"
        if hashlib.sha256(contents[table]).hexdigest() != expected["sha256"]:
            return f"{table} does not match the sha256 in status.json"
    extra = sorted(p.name for p in path.glob("*.parquet") if p.name not in status["tables"])
    if extra:
        return f"{extra[0]} is not listed in status.json"
    return _claims_problem(status, config, contents["metrics.parquet"])


def _claims_problem(status: dict, config: dict, metrics: bytes) -> str | None:
    """What status.json claims that the tables contradict (module docstring), or None."""
    probes = {f"{name}.parquet" for name in config.get("probes", ())}
    unknown = sorted(set(status["tables"]) - probes - {"metrics.parquet"})
    if unknown:
        return f"{unknown[0]}, listed in status.json, is not a table of the config's probes"
    columns = _metrics_columns(metrics)
    if isinstance(columns, str):
        return f"metrics.parquet is not a readable metrics table ({columns})"
    step, value, is_loss = columns
    steps, every = config.get("steps"), config.get("metric_every")
    recorded = np.unique(step)
    expected = [0] + [t for t in range(every, steps + 1, every)] + ([steps] if steps % every else [])
    if not np.array_equal(recorded, expected):
        return (f"metrics.parquet records steps {_steps(recorded)}, not the {_steps(expected)} of a finished "
                f"{steps}-step run")
    diverged = status["diverged_step"]
    before = is_loss & (step >= 1) & (step < (diverged or steps + 1))
    not_finite = step[before & ~np.isfinite(value)]
    if diverged is None and len(not_finite):
        return f"status.json says the run never diverged, but its batch loss at step {not_finite[0]} is not finite"
    if diverged is None:
        return None
    if diverged > steps:
        return f"status.json says the run diverged at step {diverged}, after its last step {steps}"
    if len(not_finite):
        return (f"status.json says the run diverged at step {diverged}, but its batch loss is not finite "
                f"at step {not_finite[0]}")
    after = step[(step >= diverged) & ~np.isnan(value)]
    if len(after):
        return (f"status.json says the run diverged at step {diverged}, but metrics.parquet has values "
                f"at step {after[0]}")
    return None


def _metrics_columns(metrics: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """(step, value, metric == batch_loss) of a metrics table's bytes, read by pyarrow directly
    (a fifth of pandas' time: every cache check reads it), on this thread (after arrow's thread
    pool has run, a later arrow error aborted the process at exit 8 times in 10 beside torch);
    the error's name if it cannot be read."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(pa.BufferReader(metrics))
        table = file.read(columns=["step", "metric", "value"], use_threads=False)
        return (table.column("step").to_numpy(), table.column("value").to_numpy().astype(np.float64),
                pc.equal(table.column("metric"), "batch_loss").to_numpy())
    except (pa.ArrowException, KeyError, ValueError, TypeError) as e:
        return type(e).__name__


def _steps(steps) -> str:
    steps = list(steps)
    return ", ".join(map(str, steps)) if len(steps) <= 4 else f"{steps[0]}, {steps[1]}, …, {steps[-1]}"


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
    build = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.{_owner()}.partial"
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
    whose writer is gone (`_owner_gone`) or, where that cannot be told, older than an hour (a
    live writer's build is seconds old: it is made after the computation)."""
    now = time.time()
    for p in _hidden_of(path, hidden):
        if p.name.endswith((".aside", ".trash")) or (
                p.name.endswith(".partial") and (_owner_gone(p) or now - _mtime(p) > STALE_PARTIAL_SECONDS)):
            _remove(p)


def sweep_orphans(hidden: dict[str, list[Path]]) -> None:
    """Delete the partial folders of a `hidden_entries` listing whose writer is gone: a killed
    writer's build is swept by the next command that writes into the root."""
    for p in (p for paths in hidden.values() for p in paths):
        if p.name.endswith(".partial") and _owner_gone(p):
            _remove(p)


def _owner() -> str:
    """This process, as named in its partial folders: `<pid>.<pid namespace>.<host>`."""
    return f"{os.getpid()}.{_pid_namespace()}.{socket.gethostname()}"


def _pid_namespace() -> int:
    """The inode of this process's pid namespace (0 where /proc does not say): a pid means the
    same process only within one namespace, and containers on one host may share a hostname."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _owner_gone(partial: Path) -> bool:
    """True when the process that built `partial` is known to be gone: it ran on this host in this
    pid namespace and no process has its pid. False when alive, or when it cannot be told (another
    host or namespace, or a folder named without its owner by an older toylab)."""
    parts = partial.name[1:-len(".partial")].split(".", 4)  # hash, random, pid, namespace, host
    if len(parts) != 5 or not parts[2].isdigit():
        return False
    pid, namespace, host = int(parts[2]), parts[3], parts[4]
    if host != socket.gethostname() or namespace != str(_pid_namespace()) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's): alive
        return False
    return False


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
