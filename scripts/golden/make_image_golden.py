#!/usr/bin/env python3
"""Golden fixtures for EmberData's image module (Tests/EmberDataTests/Fixtures/images).

Pillow is in the test venv (it comes with mlflow). Run from the repository root:
    .venv-test/bin/python scripts/golden/make_image_golden.py

Writes:
  images/*.png, *.jpg   small pictures (seeded NumPy gradients and noise) in every PNG colour type and bit depth
                        Ember decodes (Pillow's own encoder, plus a few written chunk by chunk here for what Pillow
                        cannot write: 16-bit, 2-bit gray and Adam7-interlaced files) and JPEGs (baseline 4:2:0 and 4:4:4,
                        progressive, gray).
  images/golden.json    for each file, Pillow's decoded pixels (the mode Ember decodes to: palette -> RGB, or RGBA
                        when it has transparency; 16-bit gray -> its high byte); resize results of Pillow's
                        BILINEAR, BOX and NEAREST filters; RGB -> L conversions. Pixels are base64 of the
                        row-major, channel-interleaved bytes. The versions of Pillow, libjpeg-turbo and libpng are
                        recorded.
"""
import base64
import json
import os
import struct
import zlib

import numpy as np
import PIL
from PIL import Image, features

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "EmberDataTests", "Fixtures", "images")


def picture(h, w, c, seed):
    """Smooth gradients plus noise: edges and flat areas, so resampling and JPEG both have work to do."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    planes = []
    for k in range(c):
        base = 127 + 100 * np.sin((x * (k + 1) + 2 * y) / (3.0 + k)) * np.cos(y / (4.0 + k))
        planes.append(base + rng.normal(0, 18, (h, w)))
    a = np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)
    return a[:, :, 0] if c == 1 else a


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode()


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def raw_png(a, bit_depth, colour_type, interlace=False):
    """A PNG written chunk by chunk (filter 0 on every row), for the layouts Pillow cannot write."""
    h, w = a.shape[:2]
    sample = ">u2" if bit_depth == 16 else "u1"

    def rows(img):
        return b"".join(b"\x00" + img[r].astype(sample).tobytes() for r in range(img.shape[0]))

    if not interlace:
        data = rows(a)
    else:   # Adam7: seven passes over sub-grids, each a small image of its own
        passes = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
        data = b""
        for y0, x0, dy, dx in passes:
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += rows(sub)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 1 if interlace else 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data, 9)) + chunk(b"IEND", b"")


def expected_mode(im):
    """Pillow's image in the layout Ember decodes to."""
    if im.mode == "P":
        return np.asarray(im.convert("RGBA" if "transparency" in im.info else "RGB"))
    if im.mode == "1":
        return np.asarray(im.convert("L"))
    if im.mode in ("I;16", "I;16B", "I"):
        return (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
    return np.asarray(im)


def main():
    os.makedirs(OUT, exist_ok=True)
    golden = {"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
              "zlib": features.version("zlib"), "decode": [], "resize": [], "grayscale": []}

    rgb = picture(11, 13, 3, 1)
    gray = picture(11, 13, 1, 2)
    alpha = picture(11, 13, 1, 3)
    files = {}
    files["gray8.png"] = lambda p: Image.fromarray(gray, "L").save(p)
    files["gray_alpha8.png"] = lambda p: Image.fromarray(np.dstack([gray, alpha]), "LA").save(p)
    files["rgb8.png"] = lambda p: Image.fromarray(rgb, "RGB").save(p)
    files["rgba8.png"] = lambda p: Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(p)
    files["palette8.png"] = lambda p: Image.fromarray(rgb, "RGB").quantize(colors=200).save(p)
    files["palette4.png"] = lambda p: Image.fromarray(rgb, "RGB").quantize(colors=16).save(p, bits=4)
    files["palette_trns.png"] = lambda p: Image.fromarray(rgb, "RGB").quantize(colors=64).save(p, transparency=5)
    files["gray1.png"] = lambda p: Image.fromarray(gray > 127).save(p)

    def write_bytes(data):
        return lambda p: open(p, "wb").write(data)

    # 2-bit gray, packed by hand (Pillow writes no 2-bit gray)
    g2 = (gray // 64).astype(np.uint8)
    packed = []
    for r in range(g2.shape[0]):
        row = g2[r]
        row = np.concatenate([row, np.zeros((-len(row)) % 4, np.uint8)])
        packed.append(b"\x00" + bytes((row[0::4] << 6) | (row[1::4] << 4) | (row[2::4] << 2) | row[3::4]))
    ihdr = struct.pack(">IIBBBBB", g2.shape[1], g2.shape[0], 2, 0, 0, 0, 0)
    files["gray2.png"] = write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(packed)))
                                     + chunk(b"IEND", b""))
    files["gray16.png"] = write_bytes(raw_png(gray.astype(np.uint16) * 256 + picture(11, 13, 1, 11), 16, 0))
    rgb16 = rgb.astype(np.uint16) * 256 + picture(11, 13, 3, 4)
    files["rgb16.png"] = write_bytes(raw_png(rgb16, 16, 2))
    rgba16 = np.dstack([rgb16, alpha.astype(np.uint16) * 257])
    files["rgba16.png"] = write_bytes(raw_png(rgba16, 16, 6))
    files["rgb8_interlaced.png"] = write_bytes(raw_png(rgb, 8, 2, interlace=True))
    files["gray8_interlaced.png"] = write_bytes(raw_png(gray, 8, 0, interlace=True))

    photo = picture(24, 32, 3, 5)
    files["baseline420.jpg"] = lambda p: Image.fromarray(photo).save(p, quality=90, subsampling=2)
    files["baseline444.jpg"] = lambda p: Image.fromarray(photo).save(p, quality=95, subsampling=0)
    files["progressive.jpg"] = lambda p: Image.fromarray(photo).save(p, quality=85, progressive=True)
    files["gray.jpg"] = lambda p: Image.fromarray(picture(24, 32, 1, 6), "L").save(p, quality=90)
    files["odd_size420.jpg"] = lambda p: Image.fromarray(picture(13, 19, 3, 7)).save(p, quality=80, subsampling=2)

    for name, write in sorted(files.items()):
        path = os.path.join(OUT, name)
        write(path)
        with Image.open(path) as im:
            im.load()
            a = expected_mode(im)
        c = 1 if a.ndim == 2 else a.shape[2]
        golden["decode"].append({"file": name, "width": a.shape[1], "height": a.shape[0], "channels": c, "pixels": b64(a)})

    # Resizing: gray and RGB sources, shrinking and enlarging by whole and fractional factors.
    sources = {"gray": Image.fromarray(picture(17, 23, 1, 8), "L"), "rgb": Image.fromarray(picture(17, 23, 3, 9), "RGB")}
    sizes = [(7, 5), (11, 8), (23, 17), (46, 34), (30, 40), (5, 17), (1, 1), (64, 3)]
    filters = {"bilinear": Image.Resampling.BILINEAR, "area": Image.Resampling.BOX, "nearest": Image.Resampling.NEAREST}
    for sname, src in sources.items():
        a = np.asarray(src)
        golden["resize"].append({"source": sname, "width": src.width, "height": src.height,
                                 "channels": 1 if a.ndim == 2 else 3, "pixels": b64(a), "results": [
            {"filter": fname, "width": w, "height": h, "pixels": b64(np.asarray(src.resize((w, h), f)))}
            for fname, f in filters.items() for (w, h) in sizes]})
    src = Image.fromarray(picture(9, 10, 3, 10), "RGB")
    golden["grayscale"].append({"width": 10, "height": 9, "pixels": b64(np.asarray(src)), "gray": b64(np.asarray(src.convert("L")))})

    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
