"""The store: each engine call's runs published as one batch folder, trusted only if it verifies.

    <root>/batches/<id>/manifest.json     the runs by config hash (config, diverged_step, tables),
                                          the source hashes, seconds per config, device, and every
                                          table's size and sha256
    <root>/batches/<id>/metrics.parquet   run, step, metric, value: all the batch's runs, by run
    <root>/batches/<id>/<probe>.parquet   run and the probe's columns
    <root>/<hash>/                        a run folder of an older toylab (`run_folders`), still read

One config hash names one result. A batch id is `<nanoseconds>-<random>` and sorts by when it
was published; the newest verified batch that holds a hash is its result, an older verified
copy of a hash is ignored (two copies are the same bits: a config's numbers do not depend on its
batch, README), and a run folder of an older toylab counts only where no batch holds the hash.
Without `force` a writer leaves out of its batch the hashes a verified batch published meanwhile
(another shard, another machine); with `force` its batch is named later than every batch that
held them, so it supersedes them.

Publishing: a writer builds its batch in `<root>/batches/.<token>.<owner>.partial` (owner: pid, pid
namespace, host) and publishes it with one rename; nothing is ever rewritten, so there is no
shared index to corrupt: the index is the listing of `batches/` and the manifests. After
publishing, the writer deletes what its batch made obsolete: batches and older run folders whose
every hash a newer verified batch holds, broken batches whose hashes all have a verified copy,
and batches whose manifest cannot be read. A process killed while building leaves its partial
folder, deleted by the next command that writes into the root once its owner is gone (another
host's, after an hour); killed after the rename, it leaves only a superseded batch, ignored and
deleted by the next writer.

A batch verifies when its manifest parses and lists its runs, sources and tables; every table it
lists exists with its recorded size and sha256 (and no other), holds rows of exactly the runs
that list it, and is the metrics or a probe of each of them; every run's config hashes, with the
sources, to its name; and the metrics table confirms what the manifest claims of every run: its
steps are 0, every `metric_every`-th and the last, and it diverged where it says (every value NaN
from `diverged_step` on, the batch loss finite at every recorded step before it, or at every
step when it never diverged). Anything else is named in one line, ignored and recomputed.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import run_folders
from .config import RunConfig, config_hash
from .options import UserError, format_value

BATCHES = "batches"
STALE_PARTIAL_SECONDS = 3600  # a .partial older than this was left by a killed writer


@dataclass(frozen=True)
class Run:
    """One run's result: its config hash `name` under `root`, the batch folder (or, from an older
    toylab, the run folder) `where` that holds it, its config and status, and its tables."""
    root: Path
    name: str
    where: Path
    config: dict
    status: dict
    tables: tuple[str, ...]

    @property
    def address(self) -> Path:
        """`<root>/<hash>`: how commands name the run (`toylab show`), whatever holds it."""
        return self.root / self.name

    @property
    def in_batch(self) -> bool:
        return self.where.parent.name == BATCHES


# ----- verifying a batch ------------------------------------------------------------------------------
_BATCH_CACHE: dict[Path, tuple[tuple, dict | None, str | None]] = {}


def batch(path: Path) -> tuple[dict | None, str | None]:
    """(manifest, None) for a batch folder that verifies, (manifest or None, what is wrong) for
    one that does not. A published batch never changes: the answer is kept while the folder's
    files keep their size, inode and modification time."""
    path = Path(path)
    try:
        with os.scandir(path) as entries:
            signature = tuple(sorted((e.name, e.inode(), e.stat().st_size, e.stat().st_mtime_ns) for e in entries))
    except OSError:
        return None, "does not exist"
    cached = _BATCH_CACHE.get(path)
    if cached is None or cached[0] != signature:
        cached = (signature, *_verify_batch(path, {name for name, *_ in signature}))
        _BATCH_CACHE[path] = cached
    return cached[1], cached[2]


def _verify_batch(path: Path, files: set[str]) -> tuple[dict | None, str | None]:
    try:
        manifest = json.loads((path / "manifest.json").read_bytes())
    except FileNotFoundError:
        return None, "has no manifest.json"
    except (OSError, ValueError) as e:
        return None, f"manifest.json is not readable JSON ({type(e).__name__})"
    problem = _manifest_problem(manifest)
    if problem:
        return None, problem
    runs, sources = manifest["runs"], manifest["sources"]
    wrong = next((h for h, run in runs.items() if config_hash(run["config"], sources) != h), None)
    if wrong:
        return manifest, f"run {wrong}: its config does not hash to its name (a different run's config)"
    extra = sorted(files - set(manifest["tables"]) - {"manifest.json"})
    if extra:
        return manifest, f"{extra[0]} is not listed in manifest.json"
    for table, expected in manifest["tables"].items():
        try:
            content = (path / table).read_bytes()
        except OSError:
            return manifest, f"{table}, listed in manifest.json, is missing or unreadable"
        if len(content) != expected["bytes"]:
            return manifest, f"{table} has {len(content)} bytes, manifest.json says {expected['bytes']}"
        if hashlib.sha256(content).hexdigest() != expected["sha256"]:
            return manifest, f"{table} does not match the sha256 in manifest.json"
        problem = _table_problem(table[:-len(".parquet")], content, runs)
        if problem:
            return manifest, problem
    return manifest, None


def _manifest_problem(manifest) -> str | None:
    if not isinstance(manifest, dict):
        return f"manifest.json holds a {type(manifest).__name__}, not an object"
    runs, tables = manifest.get("runs"), manifest.get("tables")
    if not isinstance(runs, dict) or not runs:
        return "manifest.json lists no runs"
    problem = run_folders.listing_problem(manifest, "manifest.json")
    if problem:
        return problem
    seconds = manifest.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return f"manifest.json has a bad seconds {seconds!r}"
    for name, run in runs.items():
        if not (isinstance(run, dict) and isinstance(run.get("config"), dict) and isinstance(run.get("tables"), list)):
            return f"run {name}: manifest.json does not give its config and tables"
        diverged = run.get("diverged_step", "missing")
        if diverged is not None and (not isinstance(diverged, int) or isinstance(diverged, bool) or diverged < 1):
            return f"run {name}: manifest.json has a bad diverged_step {diverged!r}"
        if "metrics" not in run["tables"] or not {f"{t}.parquet" for t in run["tables"]} <= set(tables):
            return f"run {name}: manifest.json lists tables it does not hold"
    return None


def _table_problem(table: str, content: bytes, runs: dict) -> str | None:
    """What the table's rows contradict in the manifest (module docstring), or None."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    columns = ["run", "step", "metric", "value"] if table == "metrics" else ["run"]
    names = list(runs)
    try:  # on this thread: after arrow's thread pool has run, a later arrow error aborted the process beside torch
        data = pq.ParquetFile(pa.BufferReader(content)).read(columns=columns, use_threads=False)
        codes = _run_codes(data.column("run"), pd.Index(names))
    except (pa.ArrowException, KeyError, ValueError, TypeError) as e:
        return f"{table}.parquet is not a readable table ({type(e).__name__})"
    listed = np.array([table in runs[n]["tables"] for n in names])
    present = np.zeros(len(names), bool)
    present[codes[codes >= 0]] = True
    if (codes == -1).any() or (present != listed).any():
        stray = np.flatnonzero((codes == -1) | ~listed[np.maximum(codes, 0)])
        if len(stray):
            run = data.column("run")[int(stray[0])].as_py()
            return (f"{table}.parquet holds a row of no run" if run is None else
                    f"{table}.parquet holds rows of run {run}, which does not list it")
        lost = next(n for n, held, wanted in zip(names, present, listed) if wanted and not held)
        return f"run {lost} lists {table}.parquet, which holds none of its rows"
    if table != "metrics":
        bad = next((n for n, wanted in zip(names, listed) if wanted and table not in runs[n]["config"].get("probes", ())), None)
        return f"run {bad}: {table}.parquet is not a table of its config's probes" if bad else None
    step = data.column("step").to_numpy()
    value = data.column("value").to_numpy().astype(np.float64)
    is_loss = pc.fill_null(pc.equal(data.column("metric"), "batch_loss"), False).to_numpy()
    return _claims_problem(names, [runs[n] for n in names], codes, step, value, is_loss)


def _run_codes(column, names: pd.Index) -> np.ndarray:
    """Each row's position in `names` (−1: a run not among them, or none), from the indices of a
    dictionary-encoded column (as this toylab writes it) without making a string per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        return names.get_indexer(column.to_pandas().astype(str))
    parts = [np.append(names.get_indexer(chunk.dictionary.to_pandas().astype(str)), -1)  # a null: the -1 at the end
             [pc.fill_null(chunk.indices, -1).to_numpy().astype(np.int64)] for chunk in column.chunks]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _claims_problem(names, runs, codes, step, value, is_loss) -> str | None:
    """The first run whose recorded steps or diverged_step the metrics contradict, in one line.
    All runs are screened at once (`_suspects`); each suspect, in order, is checked alone."""
    for i, run in enumerate(runs):
        steps, every = run["config"].get("steps"), run["config"].get("metric_every")
        if not isinstance(steps, int) or not isinstance(every, int) or every < 1:
            return f"run {names[i]}: its config has no steps and metric_every"
    order = np.lexsort((step, codes))
    codes, step, value, is_loss = codes[order], step[order], value[order], is_loss[order]
    bounds = np.searchsorted(codes, np.arange(len(runs) + 1))
    for i in np.flatnonzero(_suspects(runs, codes, step, value, is_loss)):
        run, own = runs[i], slice(bounds[i], bounds[i + 1])
        steps, every = run["config"]["steps"], run["config"]["metric_every"]
        recorded = np.unique(step[own])
        expected = [0, *range(every, steps + 1, every), *([steps] if steps % every else [])]
        if not np.array_equal(recorded, expected):
            return (f"run {names[i]}: metrics.parquet records steps {run_folders.steps_text(recorded)}, not the "
                    f"{run_folders.steps_text(expected)} of a finished {steps}-step run")
        problem = _divergence_problem(run["diverged_step"], steps, step[own], value[own], is_loss[own])
        if problem:
            return f"run {names[i]}: {problem}"
    return None


def _suspects(runs, codes, step, value, is_loss) -> np.ndarray:
    """Per run, whether the checks of `_claims_problem` may fail for it (at least every run for
    which they do), from the rows sorted by run and step: its distinct recorded steps are not
    min(j·metric_every, steps) for j = 0 … ⌈steps/metric_every⌉, or a row contradicts its
    diverged_step (`_divergence_problem`)."""
    n = len(runs)
    if step.dtype.kind not in "iuf" or value.dtype.kind != "f":  # not a table this toylab writes: check each run
        return np.ones(n, bool)
    steps = np.array([run["config"]["steps"] for run in runs], np.int64)
    every = np.array([run["config"]["metric_every"] for run in runs], np.int64)
    diverged = np.array([run["diverged_step"] or 0 for run in runs], np.int64)  # 0: never
    distinct = np.ones(len(step), bool)
    distinct[1:] = (codes[1:] != codes[:-1]) | (step[1:] != step[:-1])
    owner, recorded = codes[distinct], step[distinct]
    count = np.bincount(owner, minlength=n)
    j = np.arange(len(owner)) - (np.cumsum(count) - count)[owner]
    wrong = recorded != np.minimum(j * every[owner], steps[owner])
    suspect = (count != -(-steps // every) + 1) | (np.bincount(owner, wrong, minlength=n) > 0)
    limit = np.where(diverged > 0, diverged, steps + 1)[codes]
    not_finite = is_loss & (step >= 1) & (step < limit) & ~np.isfinite(value)
    after = (diverged[codes] > 0) & (step >= diverged[codes]) & ~np.isnan(value)
    rows = np.bincount(codes[not_finite | after], minlength=n) > 0
    return suspect | rows | (diverged > steps)


def _divergence_problem(diverged, steps, step, value, is_loss) -> str | None:
    before = is_loss & (step >= 1) & (step < (diverged or steps + 1))
    not_finite = step[before & ~np.isfinite(value)]
    if diverged is None:
        return (f"the manifest says it never diverged, but its batch loss at step {not_finite[0]} is not finite"
                if len(not_finite) else None)
    if diverged > steps:
        return f"the manifest says it diverged at step {diverged}, after its last step {steps}"
    if len(not_finite):
        return (f"the manifest says it diverged at step {diverged}, but its batch loss is not finite at step "
                f"{not_finite[0]}")
    after = step[(step >= diverged) & ~np.isnan(value)]
    if len(after):
        return f"the manifest says it diverged at step {diverged}, but metrics.parquet has values at step {after[0]}"
    return None


# ----- the index: which batch holds a hash -----------------------------------------------------------
class Index:
    """What `root` holds now: every published batch (from one listing and their manifests) and
    the run folders of older toylab versions; `find` gives a hash's result."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.checked: dict[Path, tuple[dict | None, str | None]] = {}
        self.holders: dict[str, list[Path]] = {}  # hash -> batches whose manifest lists it, newest first
        self.unreadable: dict[Path, str] = {}  # batches without a readable manifest -> what is wrong
        self.batches = sorted(_listing(self.root / BATCHES), reverse=True)
        self.unreadable.update({p: "is a file, not a batch folder" for p in _listing(self.root / BATCHES, files=True)})
        for path in self.batches:
            manifest, problem = self.batch(path)
            if manifest is None and problem != "does not exist":  # (not deleted by another writer meanwhile)
                self.unreadable[path] = problem
            if manifest is None:
                continue
            for name in manifest["runs"]:
                self.holders.setdefault(name, []).append(path)
        self.folders = {p.name for p in _listing(self.root) if p.name != BATCHES}

    def batch(self, path: Path) -> tuple[dict | None, str | None]:
        """`batch(path)`, looked at once per index."""
        if path not in self.checked:
            self.checked[path] = batch(path)
        return self.checked[path]

    def find(self, name: str) -> Run | None:
        """The run `name`: its newest verified batch, else its verified run folder; None if neither."""
        for path in self.holders.get(name, ()):
            manifest, problem = self.batch(path)
            if problem is None:
                run = manifest["runs"][name]
                status = {"status": "finished", "diverged_step": run["diverged_step"], "seconds": manifest["seconds"],
                          "batched_with": manifest.get("batched_with"), "device": manifest.get("device")}
                return Run(self.root, name, path, run["config"], status, tuple(run["tables"]))
        folder = self.root / name
        if name in self.folders and run_folders.verify(folder) is None:
            return Run(self.root, name, folder, run_folders.read_config(folder), run_folders.read_status(folder),
                       tuple(run_folders.tables(folder)))
        return None

    def problems(self, names) -> dict[Path, str]:
        """For the hashes `names` that have no verified result: what is wrong with the batches and
        run folders that hold them (`unreadable` lists the batches whose runs are unknown)."""
        found = {}
        for name in (n for n in names if self.find(n) is None):
            for path in self.holders.get(name, ()):
                found[path] = self.batch(path)[1]
            if name in self.folders:
                found[self.root / name] = run_folders.verify(self.root / name)
        return {path: problem for path, problem in found.items() if problem is not None}

    def broken(self) -> dict[Path, str]:
        """Every batch under the root that does not verify, and what is wrong with it."""
        checked = {path: self.batch(path)[1] for path in self.batches}
        return {**self.unreadable, **{path: problem for path, problem in checked.items() if problem is not None}}

    def newest(self, names) -> str:
        """The newest batch id that holds any of `names` ('' if none)."""
        return max((self.holders.get(n, [Path("")])[0].name for n in names), default="")


def _listing(folder: Path, files: bool = False) -> list[Path]:
    """The folders (or, with `files`, the files) in `folder`, hidden ones (partial builds, trash) left out."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
        return [Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir() != files]
    return []


# ----- writing and publishing -------------------------------------------------------------------------
def write_batch(root: Path, configs: list[RunConfig], tables: dict[str, pd.DataFrame], diverged_step: list,
                status: dict, force: bool = False) -> Path | None:
    """Publish the runs of one engine call as one batch: `tables` by name, each with a `config`
    column (0..K−1, the index into `configs`). Without `force`, runs a verified batch already
    holds are left out (None when none is left). Returns the published batch folder."""
    root = Path(root)
    names = [c.hash() for c in configs]
    index = Index(root)
    keep = [i for i, name in enumerate(names) if force or index.find(name) is None]
    if not keep:
        return None
    folder = root / BATCHES
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    build = folder / f".{token}.{_owner()}.partial"
    build.mkdir()  # not mkdtemp: its 0700 would keep other users of a shared root out
    try:
        runs = {names[i]: {"config": configs[i].to_dict(), "diverged_step": diverged_step[i], "tables": []}
                for i in keep}
        listed = {}
        for table, frame in tables.items():
            held = _write_table(build / f"{table}.parquet", frame, names, keep)
            if held:
                listed[f"{table}.parquet"] = {"bytes": (build / f"{table}.parquet").stat().st_size,
                                              "sha256": file_sha256(build / f"{table}.parquet")}
                for name in held:
                    runs[name]["tables"].append(table)
        manifest = {"runs": runs, "sources": configs[0].sources(), "tables": listed, **status}
        (build / "manifest.json").write_text(json.dumps(manifest))
        stamp = max(time.time_ns(), int(index.newest(names).split("-")[0] or 0) + 1)
        published = folder / f"{stamp:020d}-{token}"
        _place(build, published)
    finally:
        _remove(build)
    collect(root)
    return published


def _place(build: Path, path: Path) -> None:
    os.rename(build, path)


def _write_table(path: Path, frame: pd.DataFrame, names: list[str], keep: list[int]) -> list[str]:
    """Write the rows of the configs `keep` with a dictionary-encoded `run` column (their hashes)
    in place of `config`, sorted by run; return the runs written (none: no file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    config = frame["config"].to_numpy()
    mask = np.isin(config, keep) if len(keep) < len(names) else np.ones(len(config), bool)
    order = np.flatnonzero(mask)[np.argsort(config[mask], kind="stable")]
    if not len(order):
        return []
    present = np.unique(config[order])
    rows = pa.Table.from_pandas(frame.drop(columns="config").iloc[order], preserve_index=False)
    run = pa.DictionaryArray.from_arrays(pa.array(np.searchsorted(present, config[order]), pa.int32()),
                                         pa.array([names[i] for i in present]))
    pq.write_table(rows.add_column(0, "run", run), path)
    return [names[i] for i in present]


def collect(root: Path) -> None:
    """Delete what is obsolete under `root` (module docstring): verified batches and older run
    folders whose every hash a newer verified batch holds, broken batches whose every hash has
    a verified copy or whose manifest cannot be read, and partial builds of writers that are gone."""
    index = Index(root)
    newest = {name: next((p for p in paths if index.batch(p)[1] is None), None)
              for name, paths in index.holders.items()}
    for path in index.unreadable:
        _remove(path)
    for path in index.batches:
        manifest, problem = index.batch(path)
        if manifest is not None and all(newest[n] not in (None, path) for n in manifest["runs"]):
            _remove(path)
    for name in index.folders & {n for n, p in newest.items() if p is not None}:
        _remove(root / name)
    sweep_partials(root)


def sweep_partials(root: Path) -> None:
    """Delete partial builds under `root/batches` whose writer is gone (`_owner_gone`) or, where
    that cannot be told, older than an hour (a live writer's build is seconds old: it is made
    after the computation)."""
    now = time.time()
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(Path(root) / BATCHES) as entries:
        for entry in entries:
            path = Path(entry.path)
            if entry.name.endswith(".partial") and (_owner_gone(path) or now - _mtime(path) > STALE_PARTIAL_SECONDS):
                _remove(path)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    """True when the process that built `partial` (`.<token>.<pid>.<namespace>.<host>.partial`)
    is known to be gone: it ran on this host in this pid namespace and no process has its pid.
    False when alive, or when it cannot be told (another host or namespace)."""
    parts = partial.name[1:-len(".partial")].split(".", 3)  # token, pid, namespace, host
    if len(parts) != 4 or not parts[1].isdigit():
        return False
    pid, namespace, host = int(parts[1]), parts[2], parts[3]
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
    """Delete a file or folder; a folder is first renamed to a hidden `.trash` so that no reader
    lists it half deleted."""
    if path is None or not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        trash = path.with_name(f".{path.name.lstrip('.')}.{uuid.uuid4().hex[:8]}.trash")
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
def find_runs(paths) -> tuple[list[Run], dict[Path, str]]:
    """The runs named by `paths`, each a root (`--out`: all its runs), a batch folder, a run
    folder of an older toylab, or a run's address `<root>/<hash>`; and what is wrong with those
    among them that do not verify (by batch or folder). A `UserError` for any other path."""
    runs, problems, indexes = {}, {}, {}
    index_of = lambda root: indexes[root] if root in indexes else indexes.setdefault(root, Index(root))  # noqa: E731
    for path in (p.parent if p.name == BATCHES else p for p in map(Path, paths)):
        if (path / "config.json").exists() or not path.exists():
            index = index_of(path.parent)
            run = index.find(path.name)
            if run is None and not (index.holders.get(path.name) or path.name in index.folders):
                raise UserError(f"{path} is not a run, a batch or a folder of runs")
            found, broken = [run] if run else [], index.problems([path.name])
        elif path.parent.name == BATCHES:
            index = index_of(path.parent.parent)
            manifest, problem = index.batch(path)
            found, broken = [], {path: problem} if problem else {}
            if problem is None:
                found = [r for r in map(index.find, manifest["runs"]) if r is not None]
        elif path.is_dir():
            index = index_of(path)
            names = sorted(set(index.holders) | {n for n in index.folders if (path / n / "config.json").exists()})
            found = [r for r in map(index.find, names) if r is not None]
            broken = {**index.unreadable, **index.problems(names)}
        else:
            raise UserError(f"{path} is not a run, a batch or a folder of runs")
        runs.update({(r.root.resolve(), r.name): r for r in found})
        problems.update(broken)
    return list(runs.values()), problems


def read(runs: list[Run], table: str = "metrics") -> pd.DataFrame:
    """One tidy `table` over `runs` (those that have it), with `run` (the config hash) first; a
    batch is read once for all its runs, only their rows (pyarrow filters). A batch or folder
    deleted meanwhile (superseded by another writer) gives no rows."""
    import pyarrow.parquet as pq

    frames, by_batch = [], {}
    for run in runs:
        if table in run.tables:
            by_batch.setdefault(run.where if run.in_batch else None, []).append(run)
    for where, members in by_batch.items():
        for part in ([members] if where is not None else [[r] for r in members]):
            path = (where or part[0].where) / f"{table}.parquet"
            subset = where is not None and len(part) < _size(where)
            filters = [("run", "in", [r.name for r in part])] if subset else None
            try:
                frame = pq.read_table(path, filters=filters, use_threads=False).to_pandas()
            except (OSError, ValueError):
                continue
            if where is None:
                frame.insert(0, "run", part[0].name)
            frames.append(frame.assign(**{c: as_strings(frame[c]) for c in ("run", "metric") if c in frame}))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def as_strings(column: pd.Series) -> pd.Series:
    """A text column as strings (`str` dtype), so that grouping by it means what it means on
    strings (no unobserved groups). A dictionary-encoded column comes as a categorical: its
    categories are taken by code (pandas' own `astype(str)` of a categorical formats every row:
    ~1 s a million rows)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype(str)
    text = column.cat.categories.astype(str).take(column.cat.codes.to_numpy(), allow_fill=True, fill_value=np.nan)
    return pd.Series(text, index=column.index, name=column.name)


def _size(path: Path) -> int:
    return len(batch(path)[0]["runs"])


def with_run_columns(rows: pd.DataFrame, runs: list[Run], extra=lambda run: {}) -> pd.DataFrame:
    """`rows` (of `read`) in the order of `runs`, each row with its run's config as columns
    (`config_columns`), `diverged_step`, `diverged` and the `extra(run)` columns."""
    if rows.empty:
        return pd.DataFrame()
    columns = pd.DataFrame([{**config_columns(RunConfig.from_dict(r.config), r.name),
                             "diverged_step": r.status.get("diverged_step"), **extra(r)} for r in runs])
    position = pd.Index(columns["run"]).get_indexer(rows["run"])
    order = np.argsort(position, kind="stable")
    out = pd.concat([rows.drop(columns="run").iloc[order].reset_index(drop=True),
                     columns.iloc[position[order]].reset_index(drop=True)], axis=1)
    out["diverged"] = out["diverged_step"].notna()
    return out


def find_run(address: Path) -> Run:
    """The run named `<root>/<hash>` (or an older toylab's run folder); a `UserError` saying
    what is wrong when it has no verified result."""
    address = Path(address)
    index = Index(address.parent)
    run = index.find(address.name)
    if run is None:
        problems = [f"{'batch ' if p.parent.name == BATCHES else ''}{p}: {why}"
                    for p, why in index.problems([address.name]).items()]
        raise UserError(f"{address}: {problems[0] if problems else 'no such run, batch or folder of runs'}")
    return run


def runs_of(root: Path, names) -> list[Run]:
    """The finished runs of the config hashes `names` under `root`, in their order, once each."""
    index = Index(root)
    return [r for r in map(index.find, dict.fromkeys(names)) if r is not None]


def load_table(root: Path, configs: list[RunConfig], table: str = "metrics") -> pd.DataFrame:
    """Concatenate one table over the finished runs of `configs`, with each run's config as
    columns. A run without the table (or whose batch is being replaced right now) has no rows."""
    runs = runs_of(root, (c.hash() for c in configs))
    return with_run_columns(read(runs, table), runs)


def config_columns(config: RunConfig, name: str | None = None) -> dict:
    """The config flattened to scalar columns: hyperparameters and problem options by name, and
    `run`, its hash (`name`, where known)."""
    cols = {"run": name or config.hash(), "problem": config.problem, "optimizer": config.optimizer,
            "seed": config.seed, "steps": config.steps, "label": config.label()}
    for name, value in config.problem_options.items():
        cols[name if name not in config.hparams else f"problem_{name}"] = _scalar(value)
    cols.update({name: _scalar(v) for name, v in config.hparams.items()})
    cols.update({f"{name}_schedule": spec for name, spec in config.schedules.items()})
    return cols


def _scalar(value):
    return format_value(value) if isinstance(value, tuple) else value


def runs_in(root: Path) -> dict[str, Run]:
    """Every finished run under `root` by config hash (broken batches and folders left out)."""
    return {run.name: run for run in find_runs([root])[0]}
