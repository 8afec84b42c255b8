#!/usr/bin/python3
"""Encoded images of every kind pserve's decoders claim to read, made from a fixture photo with Debian's
libjpeg-turbo (through PIL and cv2), libpng and hand-built PNG/BMP files, each with cv2.imdecode's answer.

usage: image_variants.py PHOTO OUT_DIR -> OUT_DIR/*.{jpg,png,bmp} + *.bgr (cv2.imdecode) + cases.json
"""
import json
import os
import struct
import sys
import zlib

import cv2
import numpy as np
from PIL import Image

photo, out = sys.argv[1], sys.argv[2]
src = cv2.imread(photo)[:97, :131]   # odd sizes: partial MCUs, odd chroma widths
rgb = np.ascontiguousarray(src[:, :, ::-1])
gray = cv2.cvtColor(src, cv2.COLOR_BGR2GRAY)
P = lambda n: os.path.join(out, n)


def cv_jpg(name, img, params):
    ok, b = cv2.imencode('.jpg', img, params)
    open(P(name), 'wb').write(b.tobytes())


for k, n in [(0, '444'), (1, '422'), (2, '420')]:
    Image.fromarray(rgb).save(P(f'jpeg_{n}.jpg'), subsampling=k, quality=90)
    Image.fromarray(rgb).save(P(f'jpeg_prog_{n}.jpg'), subsampling=k, quality=85, progressive=True)
cv_jpg('jpeg_rst.jpg', src, [cv2.IMWRITE_JPEG_RST_INTERVAL, 3])
cv_jpg('jpeg_prog_rst.jpg', src, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 2])
cv_jpg('jpeg_gray_rst.jpg', gray, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
cv_jpg('jpeg_q100.jpg', src, [cv2.IMWRITE_JPEG_QUALITY, 100])
cv_jpg('jpeg_q3.jpg', src, [cv2.IMWRITE_JPEG_QUALITY, 3])
cv_jpg('jpeg_optimized.jpg', src, [cv2.IMWRITE_JPEG_OPTIMIZE, 1])
cv_jpg('jpeg_gray.jpg', gray, [])
cv_jpg('jpeg_prog_gray.jpg', gray, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
cv_jpg('jpeg_tiny.jpg', src[:3, :2], [])
Image.fromarray(rgb).convert('CMYK').save(P('jpeg_cmyk.jpg'), quality=90)   # Adobe marker, inverted CMYK
Image.fromarray(rgb).convert('CMYK').save(P('jpeg_prog_cmyk.jpg'), quality=80, progressive=True)
Image.fromarray(rgb[:5, :3]).save(P('jpeg_tiny_420.jpg'), subsampling=2)
for o in range(1, 9):
    ex = Image.Exif()
    ex[0x0112] = o
    Image.fromarray(rgb).save(P(f'jpeg_exif{o}.jpg'), exif=ex.tobytes())

Image.fromarray(rgb).save(P('png_rgb.png'))
for o in (3, 6, 8):
    ex = Image.Exif()
    ex[0x0112] = o
    Image.fromarray(rgb).save(P(f'png_exif{o}.png'), exif=ex.tobytes())
Image.fromarray(np.dstack([rgb, gray])).save(P('png_rgba.png'))
Image.fromarray(gray).save(P('png_gray.png'))
Image.fromarray(gray).convert('LA').save(P('png_gray_alpha.png'))
Image.fromarray(rgb).quantize(200).save(P('png_palette.png'))
Image.fromarray(rgb).quantize(14).save(P('png_palette4.png'), bits=4)
Image.fromarray(gray > 128).save(P('png_1bit.png'))
cv2.imwrite(P('png_rgb16.png'), src.astype(np.uint16) * 257 + np.arange(131, dtype=np.uint16)[None, :, None])
cv2.imwrite(P('png_gray16.png'), gray.astype(np.uint16) * 256 + 255)


def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)


def png_adam7(img):
    h, w, _ = img.shape
    raw = b''
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
        sub = img[y0::dy, x0::dx]
        if sub.size:
            for row in sub:
                raw += b'\x00' + row.tobytes()
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 1)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')


open(P('png_adam7.png'), 'wb').write(png_adam7(rgb))

cv2.imwrite(P('bmp_24.bmp'), src)
cv2.imwrite(P('bmp_8gray.bmp'), gray)
cv2.imwrite(P('bmp_24_odd.bmp'), src[:5, :7])
Image.fromarray(np.dstack([rgb, gray])).save(P('bmp_32.bmp'))
Image.fromarray(rgb).quantize(16).save(P('bmp_4pal.bmp'))
Image.fromarray(gray > 128).save(P('bmp_1bit.bmp'))

cases = []
for n in sorted(os.listdir(out)):
    if not n.endswith(('.jpg', '.png', '.bmp')):
        continue
    a = cv2.imdecode(np.fromfile(P(n), np.uint8), cv2.IMREAD_COLOR)
    a.tofile(P(n + '.bgr'))
    cases.append({'file': n, 'shape': list(a.shape)})
json.dump(cases, open(P('cases.json'), 'w'))
