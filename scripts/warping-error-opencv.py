#!/usr/bin/python3
"""The warping error of Lai et al. (ECCV 2018) on OpenCV's flows: a second, independent check of `stylefarm video
--measure`, whose warping error runs on the project's own Farnebäck flow (Docs/video.md).

    /usr/bin/python3 scripts/warping-error-opencv.py FRAMES OUTPUTS [OUTPUTS ...]

FRAMES holds the input frames, each OUTPUTS directory one stylised sequence of the same names (frame_*.png, any
tool's). For each sequence it prints the warping error on OpenCV's DIS flow (preset medium) and on OpenCV's
Farnebäck flow: each output frame warped onto the previous one by the inputs' flow (previous -> current), the
squared difference (samples in 0...1) averaged over the channels and the pixels the forward-backward check of Lai
et al. keeps, then over the frame pairs, as `WarpingError` computes it. Needs python3-opencv and python3-numpy
(Debian packages; nothing the farm itself uses).
"""
import glob
import os
import sys

import cv2
import numpy as np


def luma(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def warp(image, flow):
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def kept(forward, backward):
    """Lai et al.'s detect_occlusion, negated: 1 where the flow forward (previous -> current) is trusted."""
    h, w = forward.shape[:2]
    back = warp(backward, forward)
    disagree = np.sum((forward + back) ** 2, axis=2) > 0.01 * (np.sum(forward**2, axis=2) + np.sum(back**2, axis=2)) + 0.5
    gy_u, gx_u = np.gradient(forward[..., 0])
    gy_v, gx_v = np.gradient(forward[..., 1])
    boundary = gx_u**2 + gy_u**2 + gx_v**2 + gy_v**2 > 0.01 * np.sum(forward**2, axis=2) + 0.002
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    px, py = gx + forward[..., 0], gy + forward[..., 1]
    inside = (px >= 0) & (py >= 0) & (px <= w - 1) & (py <= h - 1)
    return (~disagree & ~boundary & inside).astype(np.float32)


def flows(method, a, b):
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None), dis.calc(b, a, None)
    args = (None, 0.5, 5, 9, 3, 5, 1.1, 0)
    return cv2.calcOpticalFlowFarneback(a, b, *args), cv2.calcOpticalFlowFarneback(b, a, *args)


def fitted(path, width, height):
    """The input frame cropped to the output's aspect and resized to its size, as a render fits it."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    if w * height > h * width:
        cw = round(h * width / height)
        image = image[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    elif w * height < h * width:
        ch = round(w * height / width)
        image = image[(h - ch) // 2 : (h - ch) // 2 + ch]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


METHODS = ("dis", "farneback")


def measure(frames, outputs):
    """Each method's error of every frame pair; each frame is read and fitted once."""
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(outputs, "frame_*.png")))
    errors = {method: [] for method in METHODS}
    previous = None
    for name in names:
        output = cv2.imread(os.path.join(outputs, name), cv2.IMREAD_UNCHANGED)
        scale = 65535.0 if output.dtype == np.uint16 else 255.0
        output = output[..., :3].astype(np.float32) / scale
        h, w = output.shape[:2]
        candidates = sorted(glob.glob(os.path.join(frames, os.path.splitext(name)[0] + ".*")))
        if not candidates:
            sys.exit(f"no input frame for {name} in {frames}")
        gray = luma(fitted(candidates[0], w, h))
        if previous is not None:
            for method in METHODS:
                forward, backward = flows(method, previous[0], gray)
                mask = kept(forward, backward)
                diff = (warp(output, forward) - previous[1]) ** 2
                n = mask.sum()
                errors[method].append(float((diff * mask[..., None]).sum() / (n * 3)) if n > 0 else 0.0)
        previous = (gray, output)
    return errors


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    frames = sys.argv[1]
    for outputs in sys.argv[2:]:
        errors = measure(frames, outputs)
        line = [outputs + ":"] + [f"warping error ({m}) {np.mean(errors[m]):.6f}" for m in METHODS]
        print(" ".join(line))


if __name__ == "__main__":
    main()
