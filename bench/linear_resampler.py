"""The audio conversion cviscript used before soxr, kept here only as the benchmark's baseline.

`linear_to_mono` mixed down and resampled 16-bit PCM by linear interpolation, with no
anti-alias filter, in pure Python tuned for speed (commit a966c7d). `bench/audio_echo.py`
measures it in the same run as the soxr conversion that replaced it: on speed, and on the
aliasing of a sweep above the new Nyquist frequency (which it folds back at full level).
"""

from __future__ import annotations

from math import gcd

# Mixing down and resampling are one linear interpolation, computed on "lanes": many samples
# held in fixed-width fields of one Python integer, so that one big-integer `+` or `*` (a loop
# in C) works on thousands of samples at once; samples move between lanes and PCM with strided
# `bytes` slices. A sample enters its lane as offset binary (x + 32768, never negative) and no
# lane ever grows into the next, so lanes stay independent. This is 14 to 28 times faster than
# a loop over samples in Python, which is what keeps a long echo cheap to prepare.

_FLIP = bytes(b ^ 0x80 for b in range(256))  # a high byte: two's complement <-> offset binary
_BLOCK_ROWS = 1 << 13  # outputs per phase computed at once (bounds the lanes' size)


def linear_to_mono(pcm: bytes, channels: int, src: int, dst: int) -> bytes:
    """Mono `dst` Hz PCM from interleaved `channels` x `src` Hz PCM (16-bit little-endian):
    linear interpolation between frames (no anti-alias filter: speech tolerates it), the
    channels averaged, rounded half up.

    Output i lies at frame i * src / dst. With s/d that ratio in lowest terms, outputs k, k + d,
    k + 2d, ... (one "phase") lie the same fraction r/d past frames j, j + s, j + 2s, ... where
    j, r = divmod(k * s, d), so a phase is two weighted lane sums of strided frames. The weights
    are integer fractions of 2**24 (2**32 past 255 channels) and the rounding term is a half plus
    2**-9, more than the weights' rounding error with one channel: so with one channel and
    d < 128 (every common rate but 11.025 and 22.05 kHz) each output is exactly the
    interpolation rounded half up, and otherwise an output within 1/128 of a rounding boundary
    may land on its other side (within 1 of rounding the mix first, as the per-sample version
    did). Mixing down alone is exact up to 8 channels."""
    c = channels
    frames = len(pcm) // (2 * c)
    out_n = max(1, round(frames * dst / src))
    g = gcd(src, dst)
    s, d = src // g, dst // g
    out = bytearray(2 * out_n)
    rows = -(-out_n // d)  # outputs per phase
    for row in range(0, rows, _BLOCK_ROWS):
        _to_mono_rows(pcm, c, s, d, row, min(_BLOCK_ROWS, rows - row), out)
    # The last outputs may lie past the last frame, between it and a copy of it (which `pcm`
    # lacks: appending one would copy it all): they are that frame, mixed down.
    past = (frames - 1) * d // s + 1
    if past < out_n:
        last = pcm[-2 * c :] if c == 1 else linear_to_mono(pcm[-2 * c :], c, 1, 1)
        out[2 * past :] = last * (out_n - past)
    return bytes(out)


def _to_mono_rows(x: bytes, c: int, s: int, d: int, row: int, rows: int, out: bytearray) -> None:
    """Outputs k + d * m of every phase k, for `row` <= m < `row + rows`, written into `out`."""
    out_n = len(out) // 2
    step = 2 * c * s  # bytes from frame j to frame j + s
    # Weights are fractions of 2**bits; past 255 channels, c of them rounded could sum to enough
    # over 2**24 to carry a full-scale result past 16 bits, so they get 8 more bits.
    bits = 24 if c < 256 else 32
    one = 1 << bits
    whole = (2 * one + c) // (2 * c)  # round(2**bits / c): a channel's weights, summed
    lane = bits // 8 + 2  # bytes: holds 65535 * c * whole + the rounding term
    lanes_n = rows + 1  # phases with j + 1 == s read one frame further (fewer at the end)
    copies_only = c == 1 and d == 1  # a mono decimation (48 to 24 kHz, say)
    half = (1 << (bits - 1)) + (1 << (bits - 9))  # a half, and a little more (see linear_to_mono)
    rounding = (
        0 if copies_only else int.from_bytes(half.to_bytes(lane, "little") * lanes_n, "little")
    )
    sums: dict[int, int] = {}

    def frame_sums(j: int) -> int:
        """Lanes of the channel sums of frames j + s * m, from m = `row` on (0 <= j <= s)."""
        if j == s:
            return frame_sums(0) >> (8 * lane)
        if j not in sums:
            start = 2 * c * (j + s * row)
            stop = min(len(x), start + step * lanes_n)
            buf = bytearray(lane * len(range(start, stop, step)))
            channels = []
            for at in range(start, start + 2 * c, 2):
                buf[0::lane] = x[at:stop:step]
                buf[1::lane] = x[at + 1 : stop : step].translate(_FLIP)
                channels.append(int.from_bytes(buf, "little"))
            sums[j] = sum(channels[1:], channels[0])
        return sums[j]

    for k in range(d):
        first = k + d * row
        count = min(rows, len(range(first, out_n, d)))
        if count == 0:
            break
        j, r = divmod(k * s, d)
        low = slice(2 * first, 2 * (first + d * count), 2 * d)
        high = slice(2 * first + 1, 2 * (first + d * count), 2 * d)
        if c == 1 and r == 0:  # on an input sample: a copy
            at = 2 * (j + s * row)
            out[low] = x[at : at + step * count : step]
            out[high] = x[at + 1 : at + step * count : step]
            continue
        weight = (2 * (d - r) * one + c * d) // (2 * c * d)  # round(one * (d - r) / (c * d))
        total = rounding + frame_sums(j) * weight
        if r:
            total += frame_sums(j + 1) * (whole - weight)
        lanes = total.to_bytes(lane * lanes_n, "little")
        out[low] = lanes[lane - 2 : lane * count : lane]  # bits `bits` on: the result
        out[high] = lanes[lane - 1 : lane * count : lane].translate(_FLIP)
