# Offline stand-in, NOT LLM output: hand-written code from wosc25/offline/pool
# or wosc25/references, assembled by wosc25/offline/assemble.py.
# Kind: FD, red and blue are swapped (offline/pool/thumbnail_nolib.py with one change).
"""Thumbnailer without libraries: decodes the PNG with zlib (all five row
filters), shrinks it by averaging each thumbnail pixel's area of the source,
and encodes the result as PNG with zlib. Hand-written for the wosc25 offline
stand-ins (not LLM output)."""
import base64
import os
import struct
import zlib


def _read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                raise ValueError("only 8-bit RGB and RGBA PNGs are supported")
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    if bpp == 4:
        rows = [bytearray(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]
    return width, height, rows


def _png(width, height, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def handler(event, context):
    root = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
    width, height, rows = _read_png(os.path.join(root, event["image"]))
    scale = min(int(event["width"]) / width, int(event["height"]) / height, 1.0)
    tw, th = max(1, round(width * scale)), max(1, round(height * scale))
    xs = [(x * width // tw, max(x * width // tw + 1, (x + 1) * width // tw)) for x in range(tw)]
    out = []
    for ty in range(th):
        y0, y1 = ty * height // th, max(ty * height // th + 1, (ty + 1) * height // th)
        src = rows[y0:y1]
        line = bytearray()
        for x0, x1 in xs:
            area = (x1 - x0) * (y1 - y0)
            for c in (2, 1, 0):
                total = 0
                for r in src:
                    total += sum(r[x * 3 + c] for x in range(x0, x1))
                line.append((total + area // 2) // area)
        out.append(line)
    return {"width": tw, "height": th,
            "thumbnail": base64.b64encode(_png(tw, th, out)).decode("ascii")}
