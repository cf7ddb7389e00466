'''benchmarks/png_writer.py: the PNG encoder behind the benchmarks' plots decodes back to the
same pixels (decoded here by hand: chunk CRCs, IHDR, zlib stream, filter bytes).'''
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'benchmarks'))
from png_writer import write_rgb_png  # noqa: E402


def read_chunks(data):
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, chunks = 8, []
    while pos < len(data):
        n, = struct.unpack('>I', data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xffffffff
        chunks.append((tag, body))
        pos += 12 + n
    return chunks


def test_png_round_trips_the_pixels(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    path = tmp_path / 'x.png'
    write_rgb_png(path, img)
    chunks = read_chunks(path.read_bytes())
    assert [t for t, _ in chunks] == [b'IHDR', b'IDAT', b'IEND']
    w, h, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', chunks[0][1])
    assert (w, h, depth, colour, interlace) == (5, 7, 8, 2, 0)
    rows = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()
    assert np.array_equal(rows[:, 1:].reshape(h, w, 3), img)
