#!/usr/bin/env python3
"""Per-frame warping error of several stylised sequences as an SVG line chart (Docs/video.md).

    python3 scripts/plot-warping.py OUT.svg NAME=MEASURE.txt ...

Each MEASURE.txt is the output of `stylefarm video FRAMES --measure DIR` (its pair lines: pair, flicker,
warping_error, measured). Standard library only.
"""
import sys

COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d"]


def pairs(path):
    rows = []
    for line in open(path):
        parts = line.split()
        if len(parts) == 4 and parts[0].isdigit():
            rows.append((int(parts[0]), float(parts[2])))
    return rows


def main():
    out, series = sys.argv[1], [arg.split("=", 1) for arg in sys.argv[2:]]
    data = [(name, pairs(path)) for name, path in series]
    frames = [n for _, rows in data for n, _ in rows]
    top = max(e for _, rows in data for _, e in rows) * 1.05
    width, height, left, right, bottom, up = 720, 360, 70, 170, 40, 20
    x = lambda n: left + (n - min(frames)) / max(1, max(frames) - min(frames)) * (width - left - right)
    y = lambda e: up + (1 - e / top) * (height - up - bottom)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{width - right}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{up}" x2="{left}" y2="{y(0)}" stroke="black"/>']
    for i in range(5):
        e = top * i / 4
        svg.append(f'<text x="{left - 6}" y="{y(e) + 4}" text-anchor="end">{e:.5f}</text>')
    for n in sorted(set(frames))[::4]:
        svg.append(f'<text x="{x(n)}" y="{y(0) + 16}" text-anchor="middle">{n}</text>')
    svg.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">frame (pair with the one before)</text>')
    svg.append(f'<text x="14" y="{up + (height - up - bottom) / 2}" transform="rotate(-90 14 {up + (height - up - bottom) / 2})" text-anchor="middle">warping error</text>')
    for k, (name, rows) in enumerate(data):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{x(n):.1f},{y(e):.1f}" for n, e in rows)
        svg.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        svg.append(f'<text x="{width - right + 10}" y="{up + 16 + 18 * k}" fill="{colour}">{name}</text>')
    svg.append("</svg>")
    open(out, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
