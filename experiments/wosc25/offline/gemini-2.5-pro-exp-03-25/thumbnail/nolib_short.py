# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: slow (offline/pool/thumbnail_nolib_slow.py).
"""Thumbnailer without libraries, the slow way: the decoded image is a list
of pixel tuples and every thumbnail pixel is a bilinear blend fetched through
a function call. Hand-written for the wosc25 offline stand-ins (not LLM output)."""
import base64
import os
import struct
import zlib


def decode(path):
    data = open(path, "rb").read()
    pos, chunks, info = 8, [], None
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IHDR":
            info = struct.unpack(">IIBB", data[pos + 8:pos + 18])
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + n])
        pos += n + 12
    w, h, _depth, color = info
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = w * bpp
    img, prev = [], [0] * stride
    for y in range(h):
        f = raw[y * (stride + 1)]
        cur = list(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                cur[i] = (cur[i] + a) % 256
            elif f == 2:
                cur[i] = (cur[i] + b) % 256
            elif f == 3:
                cur[i] = (cur[i] + (a + b) // 2) % 256
            elif f == 4:
                p = a + b - c
                best = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))
                cur[i] = (cur[i] + best[2]) % 256
        img.append([tuple(cur[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = cur
    return w, h, img


def pixel(img, x, y):
    return img[y][x]


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    w, h, img = decode(os.path.join(root, event["image"]))
    scale = min(int(event["width"]) / w, int(event["height"]) / h, 1.0)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    rows = []
    for ty in range(th):
        row = b"\x00"
        for tx in range(tw):
            sx = min(w - 1.0, (tx + 0.5) * w / tw - 0.5)
            sy = min(h - 1.0, (ty + 0.5) * h / th - 0.5)
            x0, y0 = max(0, int(sx)), max(0, int(sy))
            x1, y1 = min(w - 1, x0 + 1), min(h - 1, y0 + 1)
            fx, fy = sx - x0, sy - y0
            px = []
            for c in range(3):
                top = pixel(img, x0, y0)[c] * (1 - fx) + pixel(img, x1, y0)[c] * fx
                bottom = pixel(img, x0, y1)[c] * (1 - fx) + pixel(img, x1, y1)[c] * fx
                px.append(int(round(top * (1 - fy) + bottom * fy)))
            row += bytes(px)
        rows.append(row)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", tw, th, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))
    return {"width": tw, "height": th, "thumbnail": base64.b64encode(png).decode()}
