#!/usr/bin/env bash
# The checks that need a GPU, as one script (for a lent machine with torch already installed and
# no package index): the CUDA-path tests, the whole suite with device=auto resolving to CUDA, and
# `python -m toylab.bench` on the GPU. Everything lands in $OUT (default ./gpu-check).
# PARTS picks a subset, e.g. PARTS="tests suite" to check the CUDA path without benchmarking;
# BENCH_ARGS goes to the benchmark, e.g. BENCH_ARGS="--tables gpu,probes".
set -u
OUT=${OUT:-gpu-check}
PARTS=${PARTS:-"tests bench suite"}
part() { [[ " $PARTS " == *" $1 "* ]]; }
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TOYLAB_THREADS=1
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.log" 2>&1 \
    || echo "editable install failed (the console-script test will fail): see install.log"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } \
    >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
if part tests; then
echo "== CUDA-path tests"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_gpu_path.py 2>&1 | tail -5
fi
if part bench; then
echo "== benchmarks on the GPU"
timeout "${BENCH_S:-330}" python3 -m toylab.bench --device cuda --out "$OUT/bench" ${BENCH_ARGS:-} >"$OUT/bench.log" 2>&1
echo "bench exit $?"; tail -60 "$OUT/bench.log"
tar -C "$OUT" -czf "$OUT/bench.tgz" bench 2>/dev/null && rm -rf "$OUT/bench"
fi
if part suite; then
echo "== whole suite, device auto = cuda"
timeout "${SUITE_S:-150}" python3 -m pytest -q -p no:cacheprovider -n 12 >"$OUT/suite.log" 2>&1
echo "suite exit $?"; grep -E "passed|failed|error" "$OUT/suite.log" | tail -40
fi
