"""Reads the capture time latestframe-testcam stamps into each frame (the
same codec as src/stamp/stamp.cpp: 80 bits in 16 x 5 blocks at the
top-left of the luma plane: sync byte 0xA5, 64-bit CLOCK_MONOTONIC ns, CRC-8)
and tells how old a frame is."""
import time

COLUMNS, ROWS = 16, 5
SYNC = 0xA5
THRESHOLD = (16 + 235) // 2


def _crc8(value):
    crc = 0
    for byte in range(8):
        crc ^= (value >> (8 * byte)) & 0xFF
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def block_size(width, height):
    block = 16 if width >= 256 else 8
    if width < COLUMNS * block or height < ROWS * block:
        return 0
    return block


def read(luma, stride, width, height):
    """The stamped value of an 8-bit luma plane (bytes-like), or None."""
    block = block_size(width, height)
    if not block:
        return None
    half, quarter = block // 2, block // 4
    bits = 0
    for i in range(COLUMNS * ROWS):
        x0 = (i % COLUMNS) * block + quarter
        y0 = (i // COLUMNS) * block + quarter
        total = 0
        for y in range(y0, y0 + half):
            row = y * stride
            total += sum(luma[row + x0: row + x0 + half])
        bits = (bits << 1) | (total // (half * half) >= THRESHOLD)
    sync, value, crc = bits >> 72, (bits >> 8) & ((1 << 64) - 1), bits & 0xFF
    if sync != SYNC or crc != _crc8(value):
        return None
    return value


def age_ms(buffer, caps):
    """How old a frame of I420, NV12 or GRAY8 is by its stamp, in ms, or
    None for another format or a frame without a (readable) stamp."""
    from gi.repository import GstVideo

    structure = caps.get_structure(0)
    if structure.get_string("format") not in ("I420", "NV12", "GRAY8"):
        return None
    width, height = structure.get_value("width"), structure.get_value("height")
    meta = GstVideo.buffer_get_video_meta(buffer)
    stride = meta.stride[0] if meta else (width + 3) // 4 * 4
    offset = meta.offset[0] if meta else 0
    ok, info = buffer.map(1)  # Gst.MapFlags.READ
    if not ok:
        return None
    try:
        captured = read(memoryview(info.data)[offset:], stride, width, height)
    finally:
        buffer.unmap(info)
    if captured is None:
        return None
    return (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - captured) / 1e6
