#!/usr/bin/python3
"""Reference tensors for pserve's image tests, computed the way the seeds' Python servers compute them
(FORMATS.md section 8) with Debian's python3-opencv, python3-pil and numpy.

usage: image_oracle.py FIXTURES_PIPELINE_DIR OUT_DIR
Writes raw little-endian arrays into OUT_DIR and OUT_DIR/cases.json describing them.
"""
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image

src_dir, out = sys.argv[1], sys.argv[2]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
cases = {'images': [], 'video': None, 'versions': {'cv2': cv2.__version__, 'PIL': Image.__version__, 'numpy': np.__version__}}


def save(name, arr):
    arr = np.ascontiguousarray(arr)
    arr.tofile(os.path.join(out, name))
    return {'file': name, 'shape': list(arr.shape), 'dtype': str(arr.dtype)}


def pil_bilinear_bgr(img_bgr, w, h):
    rgb = Image.fromarray(np.ascontiguousarray(img_bgr[:, :, ::-1]), mode='RGB')
    return np.asarray(rgb.resize((w, h), Image.BILINEAR))[:, :, ::-1]


files = []
for sub in ('images', 'gallery/images'):
    d = os.path.join(src_dir, sub)
    files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if not f.startswith('.')]

for path in files:
    name = os.path.basename(path)
    buf = np.fromfile(path, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    c = {'path': path, 'name': name, 'decode': save(name + '.bgr', img)}
    c['pil'] = save(name + '.pilrgb', np.asarray(Image.open(path).convert('RGB')))
    h, w = img.shape[:2]
    sizes = [(224, 224), (640, 640), (w * 5 // 4 + 1, h * 9 // 8), (w // 2, h // 2), (w // 3, h // 3), (97, 61)]
    c['resize'] = []
    for (tw, th) in sizes:
        c['resize'].append({'w': tw, 'h': th,
                            'cv2': save(f'{name}.cv2.{tw}x{th}', cv2.resize(img, (tw, th), interpolation=cv2.INTER_LINEAR)),
                            'pil': save(f'{name}.pil.{tw}x{th}', pil_bilinear_bgr(img, tw, th))})

    # A. classification (Paddle Serving Resize(256), CenterCrop(224), RGB2BGR, Transpose, Div(255), Normalize(chw))
    percent = float(256) / min(h, w)
    rw, rh = int(round(w * percent)), int(round(h * percent))
    r = cv2.resize(img, (rw, rh))
    c['cls_resized'] = save(name + '.cls_resized', r)
    hs, ws = (rh - 224) // 2, (rw - 224) // 2
    cc = r[hs:hs + 224, ws:ws + 224, :]
    c['cls_cropped'] = save(name + '.cls_cropped', cc)
    t = cv2.cvtColor(cc, cv2.COLOR_RGB2BGR).transpose((2, 0, 1)) / 255
    t -= np.array(MEAN).reshape((3, 1, 1))
    t /= np.array(STD).reshape((3, 1, 1))
    c['cls'] = save(name + '.cls', t[np.newaxis, :].astype(np.float32))

    # B. PP-ShiTu DetOp: BGR2RGB, Div(255), Normalize(hwc), Resize((640, 640)) on float64, Transpose
    d = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) / 255.0
    d -= np.array(MEAN).reshape((1, 1, 3))
    d /= np.array(STD).reshape((1, 1, 3))
    d = cv2.resize(d, (640, 640))
    c['det'] = save(name + '.det', d.transpose((2, 0, 1))[np.newaxis, :].astype(np.float32))
    c['scale_factor'] = [640 / h, 640 / w]

    # B. RecOp: the whole image plus boxes with fractional corners, img[int(y1):int(y2), int(x1):int(x2)]
    boxes = [[0, 0, w, h], [w * 0.1 + 0.7, h * 0.2 + 0.3, w * 0.8 + 0.5, h * 0.9 + 0.99], [3.9, 5.2, min(w, 60.6), min(h, 41.1)]]
    batch = []
    for (x1, y1, x2, y2) in boxes:
        crop = img[int(y1):int(y2), int(x1):int(x2)]
        q = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB), (224, 224)) / 255
        q -= np.array(MEAN).reshape((1, 1, 3))
        q /= np.array(STD).reshape((1, 1, 3))
        batch.append(q.transpose((2, 0, 1)))
    c['rec_boxes'] = boxes
    c['rec'] = save(name + '.rec', np.stack(batch).astype(np.float32))

    # C. PP-TSM steps on the still image as one RGB frame: Scale(256) PIL, CenterCrop(224, do_round), normalise
    frame = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]), mode='RGB')
    fw, fh = frame.size
    if not ((fw <= fh and fw == 256) or (fh <= fw and fh == 256)):
        ow, oh = (256, int(256 * 4.0 / 3.0)) if fw <= fh else (int(256 * 4.0 / 3.0), 256)
        frame = frame.resize((ow, oh), Image.BILINEAR)
    c['tsm_scaled'] = save(name + '.tsm_scaled', np.asarray(frame))
    fw, fh = frame.size
    x1, y1 = int(round((fw - 224) / 2.0)), int(round((fh - 224) / 2.0))
    frame = frame.crop((x1, y1, x1 + 224, y1 + 224))
    a = np.stack([np.asarray(frame)]).astype('float32').transpose(0, 3, 1, 2) / 255.0
    a -= np.array(MEAN).reshape([3, 1, 1]).astype(np.float32)
    a /= np.array(STD).reshape([3, 1, 1]).astype(np.float32)
    c['tsm'] = save(name + '.tsm', a)
    cases['images'].append(c)

# float images through cv2.resize: the float64 2x reduction (OpenCV's area path) and float32 at odd sizes
img = cv2.imdecode(np.fromfile(files[0], np.uint8), cv2.IMREAD_COLOR)[:320, :480]
f = (cv2.cvtColor(img, cv2.COLOR_BGR2RGB) / 255.0 - np.array(MEAN)) / np.array(STD)
cases['float_resize'] = {'src': save('float.src.f64', f), 'half64': save('float.half.f64', cv2.resize(f, (240, 160))),
                         'src32': save('float.src.f32', f.astype(np.float32)),
                         'odd32': save('float.odd.f32', cv2.resize(f.astype(np.float32), (333, 517)))}

# C. the seed video as PaddleVideo's client sends it: OpenCV decodes every frame, BGR -> RGB, stacked
video = os.path.join(src_dir, 'video', 'example.avi')
if os.path.exists(video):
    cap = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[:, :, ::-1])
    frames = np.stack(frames)
    v = {'frames': save('video.rgb', frames)}
    T = frames.shape[0]
    # PP-TSM: Sampler(8, 1, valid_mode=True)
    avg = int(T / 8)
    idx = [((avg - 1) // 2 + i * avg) % T if avg >= 1 else i % T for i in range(8)]
    v['tsm_idx'] = idx
    imgs = []
    for i in idx:
        im = Image.fromarray(frames[i], mode='RGB')
        fw, fh = im.size
        if not ((fw <= fh and fw == 256) or (fh <= fw and fh == 256)):
            ow, oh = (256, int(256 * 4.0 / 3.0)) if fw <= fh else (int(256 * 4.0 / 3.0), 256)
            im = im.resize((ow, oh), Image.BILINEAR)
        fw, fh = im.size
        x1, y1 = int(round((fw - 224) / 2.0)), int(round((fh - 224) / 2.0))
        imgs.append(im.crop((x1, y1, x1 + 224, y1 + 224)))
    a = np.stack(imgs).astype('float32').transpose(0, 3, 1, 2) / 255.0
    a -= np.array(MEAN).reshape([3, 1, 1]).astype(np.float32)
    a /= np.array(STD).reshape([3, 1, 1]).astype(np.float32)
    v['tsm'] = save('video.tsm', a[np.newaxis])
    # PP-TSN: Sampler(25, 1, valid_mode=True, select_left=True), Scale(256) with cv2, TenCrop(224)
    fl = T / 25
    sidx = [int(fl / 2.0 + fl * x) % T for x in range(25)] if T > 25 else [0] * 25
    v['tsn_idx'] = sidx
    scaled = []
    for i in sidx:
        f = frames[i]
        fh, fw = f.shape[:2]
        ow, oh = (256, int(256 * 4.0 / 3.0)) if fw <= fh else (int(256 * 4.0 / 3.0), 256)
        scaled.append(Image.fromarray(cv2.resize(np.asarray(f), (ow, oh), interpolation=cv2.INTER_LINEAR)))
    iw, ih = scaled[0].size
    ws, hs = (iw - 224) // 4, (ih - 224) // 4
    crops = []
    for (xo, yo) in [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]:
        cr = [im.crop((xo, yo, xo + 224, yo + 224)) for im in scaled]
        crops += cr + [im.transpose(Image.FLIP_LEFT_RIGHT) for im in cr]
    v['tsn_crops'] = save('video.tsn', np.stack([np.asarray(im) for im in crops]))
    cases['video'] = v

json.dump(cases, open(os.path.join(out, 'cases.json'), 'w'))
