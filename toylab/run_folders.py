"""Run folders of older toylab versions, one per config hash: read, and trusted only if they verify.
New runs are written per batch (`toylab/store.py`); these folders are still read where they are.

    <root>/<hash>/config.json      everything needed to re-run (RunConfig.to_dict)
    <root>/<hash>/metrics.parquet  tidy: step, metric, value
    <root>/<hash>/<table>.parquet  probe tables, tidy
    <root>/<hash>/status.json      finished, diverged_step, seconds, and for every table its size
                                   and sha256, and the source hashes

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

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .config import config_hash


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
        return (f"metrics.parquet records steps {steps_text(recorded)}, not the {steps_text(expected)} of a finished "
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


def steps_text(steps) -> str:
    steps = list(steps)
    return ", ".join(map(str, steps)) if len(steps) <= 4 else f"{steps[0]}, {steps[1]}, …, {steps[-1]}"


def listing_problem(record: dict, file: str) -> str | None:
    """What is missing from `record` (status.json here, a batch's manifest.json): its tables with
    sizes and sha256, the metrics among them, and the source hashes."""
    tables, sources = record.get("tables"), record.get("sources")
    if not isinstance(tables, dict) or "metrics.parquet" not in tables or not all(
            isinstance(v, dict) and isinstance(v.get("bytes"), int) and isinstance(v.get("sha256"), str)
            for v in tables.values()):
        return f"{file} does not list its tables with sizes and checksums"
    if not isinstance(sources, dict) or not all(isinstance(sources.get(k), str) for k in ("problem", "toylab")):
        return f"{file} has no source hashes"
    return None


def _status_problem(status) -> str | None:
    if not isinstance(status, dict):
        return f"status.json holds a {type(status).__name__}, not an object"
    if status.get("status") != "finished":
        return f"status is {status.get('status')!r}, not 'finished'"
    seconds = status.get("seconds", 0.0)
    problem = listing_problem(status, "status.json")
    if problem:
        return problem + (" (an older or broken run)" if "checksums" in problem else "")
    if "diverged_step" not in status:
        return "status.json has no diverged_step"
    diverged = status["diverged_step"]
    if diverged is not None and (not isinstance(diverged, int) or isinstance(diverged, bool) or diverged < 1):
        return f"status.json has a bad diverged_step {diverged!r}"
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return f"status.json has a bad seconds {seconds!r}"
    return None


def read_status(path: Path) -> dict:
    return json.loads((Path(path) / "status.json").read_text())


def read_config(path: Path) -> dict:
    return json.loads((Path(path) / "config.json").read_text())


def tables(path: Path) -> list[str]:
    """The tables a verified run folder holds, by name (metrics first)."""
    return sorted((p[:-len(".parquet")] for p in read_status(path)["tables"]), key=lambda t: (t != "metrics", t))
