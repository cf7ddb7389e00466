'''Write an RGB image (numpy uint8, shape (h, w, 3)) as a PNG file with zlib alone: the
benchmarks draw their plots pixel by pixel because matplotlib is not a dependency.'''
import struct
import zlib

import numpy as np


def _chunk(tag, data):
    return (struct.pack('>I', len(data)) + tag + data
            + struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff))


def write_rgb_png(path, img):
    img = np.asarray(img, dtype=np.uint8)
    h, w, _ = img.shape
    # filter type 0 (none) in front of every row
    raw = b''.join(b'\x00' + img[r].tobytes() for r in range(h))
    header = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)   # 8-bit RGB, no interlace
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', header)
                + _chunk(b'IDAT', zlib.compress(raw, 9)) + _chunk(b'IEND', b''))
