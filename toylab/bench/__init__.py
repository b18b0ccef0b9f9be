"""`make bench`: toylab's speed against the floors and against torch.optim, measured together.

    sweep.py          configs·steps/s of the batched engine vs a loop of single torch.optim runs
    step.py           one optimizer step on 4M-element tensors vs the memory floor and fused AdamW
    newton_schulz.py  Newton–Schulz vs the float32 GEMM floor and torch.optim.Muon's bfloat16 NS
    probes.py         the probes' cost (toylab.bench_probes.probe_costs)
    torch_api.py      optimizer.step() of the torch.optim classes vs torch.optim on an MLP and a transformer-like stack
    timing.py         medians, and the bandwidth and matmul rates the floors are made of

`python -m toylab.bench` runs them all and writes CSV and Markdown tables to reports/bench/.
"""
