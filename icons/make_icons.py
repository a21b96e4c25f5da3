#!/usr/bin/env python3
"""Rasterise edgefleet.svg's shapes (same geometry, drawn here so no SVG
renderer is needed) to edgefleet.png (256 px) and edgefleet-64.rgba (the
window icon's raw RGBA, embedded by ui/src/app/app.rs)."""
import struct, zlib, math, pathlib

HERE = pathlib.Path(__file__).parent

def draw(size):
    s = size / 256.0
    px = [[(0, 0, 0, 0)] * size for _ in range(size)]
    def cover(fn, x, y, n=4):
        hits = 0
        for i in range(n):
            for j in range(n):
                if fn((x + (i + .5) / n) / s, (y + (j + .5) / n) / s):
                    hits += 1
        return hits / (n * n)
    def rrect(u, v, x0=8, y0=8, x1=248, y1=248, r=52):
        cx = min(max(u, x0 + r), x1 - r); cy = min(max(v, y0 + r), y1 - r)
        return (u - cx) ** 2 + (v - cy) ** 2 <= r * r and x0 <= u <= x1 and y0 <= v <= y1
    def seg(ax, ay, bx, by, w):
        def f(u, v):
            dx, dy = bx - ax, by - ay
            t = max(0, min(1, ((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy)))
            return (u - ax - t * dx) ** 2 + (v - ay - t * dy) ** 2 <= (w / 2) ** 2
        return f
    def circ(cx, cy, r):
        return lambda u, v: (u - cx) ** 2 + (v - cy) ** 2 <= r * r
    layers = [(rrect, (0x1b, 0x24, 0x30))]
    for (bx, by) in [(70, 72), (190, 84), (116, 196)]:
        layers.append((seg(128, 128, bx, by, 14), (0x5a, 0xa0, 0xe6)))
    layers += [(circ(128, 128, 30), (0x5a, 0xa0, 0xe6)), (circ(70, 72, 20), (0x2e, 0xb4, 0x5a)),
               (circ(190, 84, 20), (0x2e, 0xb4, 0x5a)), (circ(116, 196, 20), (0xeb, 0xaa, 0x1e))]
    for y in range(size):
        for x in range(size):
            r = g = b = a = 0.0
            for fn, col in layers:
                c = cover(fn, x, y)
                if c:
                    r, g, b = (r * (1 - c) + col[0] * c, g * (1 - c) + col[1] * c, b * (1 - c) + col[2] * c)
                    a = a * (1 - c) + c
            if a:
                px[y][x] = (round(r), round(g), round(b), round(a * 255))
    return px

def png(px, path):
    size = len(px)
    raw = b"".join(b"\0" + bytes(v for p in row for v in p) for row in px)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path.write_bytes(data)

png(draw(256), HERE / "edgefleet.png")
icon = draw(64)
(HERE / "edgefleet-64.rgba").write_bytes(bytes(v for row in icon for p in row for v in p))
