"""Run every benchmark; print the tables and write them as CSV and Markdown to --out.

`floor` (the headline: K AdamW configs vs the torch.optim loop and the measured floor, eager
and fused) runs at each thread count in --threads; `cli` times the whole `toylab sweep`
command at 10,000 steps, `overhead` sets it against the engine alone; the other tables run at
the first thread count.
`--quick` is a sub-minute smoke run of every table (small sizes, one repeat).
On a GPU (`--device cuda`, or auto where one is found) the default tables are `gpu` (the
headline workload on the GPU) and the device tables; the CPU-only ones (`floor`, `cli`,
`torch_api`, `overhead`) run where `--tables` names them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from .. import runtime
from ..engine import resolve_device
from . import floor, gpu, newton_schulz, orthogonalizers, probes, step, sweep, torch_api
from .timing import bandwidth, device_name

NOTES = {
    "floor": "K AdamW configs on linear regression d=64, D=16, batch 32 (toylab/bench/floor.py). Throughput in "
             "configs·steps per CPU second of this process (two threads: CPU time counts both; wall time beside "
             "it). Floor = the two per-seed GEMMs timed alone + one fused AdamW pass (torch.optim.AdamW "
             "fused=True) + sampling, per step. × floor time = engine time per step / floor time per step; "
             "× per-config floor: the same floor with the products per config (per seed one bmm over its configs), "
             "as the engine takes them where a per-seed GEMM would round a config otherwise (batched.group_mm). Engine rows: metrics only "
             "at the end, and the fused step with the command's default metrics (every 10 steps).",
    "gpu": "K AdamW configs on linear regression d=64, D=16, batch 32 on the GPU (toylab/bench/gpu.py). "
           "Throughput in configs·steps per wall second, device synchronised, medians after a warm-up. "
           "Floor = the two per-seed GEMMs + one fused AdamW pass + sampling, each timed alone on the GPU. "
           "The torch.optim loops run each config alone with autograd: on the GPU, and on the CPU with one thread.",
    "cli": "The whole `toylab sweep linear_regression --optimizer adamw` command as a subprocess (startup and "
           "the store included), CPU time: K = 256 (64 lrs × 4 seeds), d = 64, D = 16, batch 32, with its default "
           "options (metrics every 10 steps, the fused step), and beside it with metrics only at the end and with "
           "--eager; the torch.optim loop from the floor table (one thread).",
    "overhead": "The whole `toylab sweep linear_regression --optimizer adamw` command with its default options (CPU "
                "time of the subprocess: startup, imports, checks, the store and the printed summary included) against "
                "`engine.run_batch` alone on the same configs in this process, alternating rounds, medians: the "
                "command's fixed cost (K = 1, one step) and its cost beyond the engine on many short runs.",
    "sweep": "Speedup = engine / baseline throughput (configs·steps/s), same problem and data streams. "
             "SignSGD's baseline is a hand-written Signum loop (torch.optim has no SignSGD). "
             "torch.optim.Muon runs Newton–Schulz in bfloat16, which is slow on CPU; the engine's Muon "
             "uses float32 on CPU (ns_dtype=auto), so the Muon speedup on CPU largely reflects that.",
    "step": "Floor = bytes that must move / in-place bandwidth measured in this run. torch.optim rows "
            "step in place with scalar hyperparameters; toylab's in-place step (the engine's) writes into "
            "a second buffer with [K] coefficients.",
    "newton_schulz": "Floor = NS flops / float32 rate of the same three matmuls timed alone. "
                     "torch.optim.Muon's NS is bfloat16 and per matrix; timed on small sizes only.",
    "probes": "probed sweep time / plain sweep time, and each probe alone: (its sweep's time − plain time) / probed "
              "steps (toylab.bench_probes.probe_costs; CPU time of this process, medians, the sweeps alternating).",
    "torch_api": "CPU time of one optimizer.step() on an MLP and a transformer-like stack (toylab.bench.torch_api): "
                 "toylab's torch.optim classes against torch.optim's default (on CPU, its single-tensor loop).",
    "orthogonalizers": "Muon's orthogonalizers (float32) on inputs with singular values geometric from 1 to 1e-3: "
                       "median time per call on the batch, relative to 5 Newton–Schulz steps, and the mean "
                       "‖O − UVᵀ‖_F/‖UVᵀ‖_F against the float64 polar factor (toylab.bench.orthogonalizers).",
}


def settings(quick: bool) -> dict:
    if quick:
        return dict(Ks=[1, 16], steps=20, repeats=1, threads=[1], step_shapes=[(64, 64, 64)],
                    ns_shapes=[(1, 256, 256), (16, 64, 128)], torch_ns_max=256, probe_K=16, probe_steps=20,
                    floor_Ks=[16], floor_steps=20, cli_steps=20, cli_K=16,
                    overhead=[(1, 1), (16, 10)],
                    orth_shapes=[(16, 17, 4)], gpu_Ks=[16], gpu_steps=20)
    return dict(Ks=[1, 16, 256], steps=100, repeats=3, threads=[1, 2], step_shapes=[(1024, 64, 64)],
                ns_shapes=[(1, 256, 256), (1, 1024, 1024), (256, 64, 64), (64, 128, 256), (16, 256, 512)],
                torch_ns_max=256, probe_K=256, probe_steps=200, floor_Ks=[1, 16, 256], floor_steps=200,
                cli_steps=10_000, cli_K=256, overhead=[(1, 1), (4096, 10)],
                orth_shapes=[(112, 17, 4), (112, 17, 16), (112, 16, 32), (256, 64, 64), (1, 512, 512)],
                gpu_Ks=[256, 4096, 65536], gpu_steps=1000)


CPU_TABLES = ("floor", "cli", "overhead", "sweep", "step", "newton_schulz", "orthogonalizers", "probes", "torch_api")
GPU_TABLES = ("gpu", "sweep", "step", "newton_schulz", "orthogonalizers", "probes")


def write(name: str, rows: list[dict], out: Path, device: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    print(f"\n## {name} — {device}\n" + frame.to_string(index=False, float_format=lambda v: f"{v:,.3g}"), flush=True)
    frame.assign(device=device).to_csv(out / f"{name}.csv", index=False)
    return frame


def markdown(frame: pd.DataFrame) -> str:
    def cell(v):
        return f"{v:,.3g}" if isinstance(v, float) else str(v)
    rows = [list(frame.columns), ["---"] * frame.shape[1]] + [[cell(v) for v in row] for row in frame.itertuples(index=False)]
    return "\n".join("| " + " | ".join(map(str, r)) + " |" for r in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sub-minute smoke run of every table")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", default=None, help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--tables", default=None,
                        help=f"comma-separated subset of {', '.join(dict.fromkeys(CPU_TABLES + GPU_TABLES))} "
                             "(default: every CPU table, or on a GPU the GPU ones)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args(argv)
    runtime.configure()  # glibc keeps freed memory; each table then sets its own thread count
    s = settings(args.quick)
    threads = [int(t) for t in args.threads.split(",")] if args.threads else s["threads"]
    device = resolve_device(args.device)
    known = dict.fromkeys(CPU_TABLES + GPU_TABLES)
    chosen = args.tables.split(",") if args.tables else (GPU_TABLES if device.type == "cuda" else CPU_TABLES)
    unknown = [t for t in chosen if t not in known]
    if unknown:
        parser.error(f"unknown table {unknown[0]!r}; choose from {', '.join(known)}")
    args.out.mkdir(parents=True, exist_ok=True)
    name = device_name(device)
    repeats = max(3, s["repeats"])
    loop = None

    def floor_table():
        nonlocal loop
        rows = floor.table(s["floor_Ks"], threads, s["floor_steps"], s["repeats"], s["steps"])
        loop = next(r["torch.optim loop cfg·steps/s"] for r in rows if r["threads"] == threads[0])
        return rows

    def cli_table():
        torch.set_num_threads(threads[0])
        baseline = loop or 4 * s["steps"] / floor.cpu_seconds(floor.torch_loop("adamw", s["steps"],
                                                                                torch.device("cpu")), 1)[0]
        return [floor.cli_sweep(s["cli_steps"], s["cli_K"], baseline, variant) for variant in floor.CLI_VARIANTS]

    def step_table():
        bw = bandwidth(device)
        print(f"\nin-place bandwidth: {bw / 1e9:.1f} GB/s")
        return [{**r, "bandwidth GB/s": bw / 1e9} for r in step.table(s["step_shapes"], bw, device, repeats)]

    runs = {
        "floor": floor_table,
        "cli": cli_table,
        "overhead": lambda: [floor.cli_overhead(K, steps, repeats) for K, steps in s["overhead"]],
        "gpu": lambda: gpu.table(s["gpu_Ks"], s["gpu_steps"], s["steps"], s["repeats"], device),
        "sweep": lambda: sweep.table(s["Ks"], s["steps"], s["repeats"], device, optimizers=("sgd", "signsgd", "muon")),
        "step": step_table,
        "newton_schulz": lambda: newton_schulz.table(s["ns_shapes"], device, repeats, s["torch_ns_max"]),
        "orthogonalizers": lambda: orthogonalizers.table(s["orth_shapes"], device, repeats),
        "probes": lambda: probes.table(s["probe_K"], s["probe_steps"], device, s["repeats"]),
        "torch_api": lambda: torch_api.table(steps=5 if args.quick else 20, repeats=s["repeats"], muon=not args.quick),
    }
    tables = {}
    for key in chosen:
        torch.set_num_threads(threads[0])
        tables[key] = write(key, runs[key](), args.out, name)

    lines = [f"# toylab benchmarks\n\nDevice: {name}; torch {torch.__version__}; "
             f"{'quick smoke run' if args.quick else 'full run'}. GPU numbers: "
             f"{'this table' if device.type == 'cuda' else 'not measured here (no GPU on this machine); on a GPU, python -m toylab.bench --device cuda'}.\n"]
    for key, frame in tables.items():
        lines += [f"## {key}\n", NOTES[key] + "\n", markdown(frame) + "\n"]
    (args.out / "README.md").write_text("\n".join(lines))
    print(f"\nwrote {args.out}/{{{','.join(tables)}}}.csv and README.md")


if __name__ == "__main__":
    main()
