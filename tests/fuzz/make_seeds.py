#!/usr/bin/env python3
"""Writes the seed corpus of the libFuzzer targets: tests/fuzz/corpus/<target>/.

Each seed is a short, hand-made operation list in the input format the
target's header comment documents (fuzz_keeper.cpp, fuzz_stamp.cpp,
fuzz_element.cpp), one per behaviour worth starting from. Run it again after
changing a format: it rewrites every file it makes (`seed-*`, and the
reproducers of the bugs fuzzing found, `regression-*`) and nothing else.

    ./tests/fuzz/make_seeds.py
"""
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

# ---- fuzz_keeper: opcode byte, then its fixed argument bytes ----------

KEEPER_ARGS = {
    "admit-frame": (0, 3), "admit-marker": (1, 1), "hand-over": (2, 1),
    "release-charge": (3, 1), "advance-clock": (4, 1), "set-limits": (5, 3),
    "set-policy": (6, 1), "set-live": (7, 1), "set-leak-non-live": (8, 1),
    "set-budget": (9, 2), "set-max-age": (10, 1), "set-thresholds": (11, 3),
    "set-flush-on-eos": (12, 1), "set-newest-only": (13, 1),
    "set-decode-mode": (14, 1), "set-pace": (15, 1), "flush-start": (16, 0),
    "flush-stop": (17, 0), "deactivate": (18, 0), "activate": (19, 0),
    "downstream-eos": (20, 0), "unlinked": (21, 0), "relink": (22, 0),
    "failed": (23, 0), "neighbour-admit": (24, 1), "neighbour-take": (25, 1),
    "neighbour-budget": (26, 2),
}
KEY, DELTA, NON_REFERENCE = 0, 1, 2
TIMED, BACK, CAPTURE, SIGNALS, FAR = 4, 8, 16, 32, 64
NEWEST, KEEP, HOOKS, ACCEPT = 1, 2, 4, 8
PLAIN, STICKY, NEW_STREAM, END, QUERY = range(5)
NONE, DROP_ARRIVING, DROP_OLDEST = range(3)
ALL, ON_DEMAND, KEY_UNITS, AUTO = range(4)


def keeper(*ops):
    out = bytearray()
    for name, *args in ops:
        code, count = KEEPER_ARGS[name]
        assert len(args) == count, name
        out += bytes([code, *args])
    return bytes(out)


def frame(unit=KEY, size=25, ago=0, flags=TIMED):
    return ("admit-frame", unit | flags, size, ago)


def take(flags=0):
    return ("hand-over", flags)


def gop(deltas, size=25):
    """A key unit and its delta units, 10 ms apart."""
    ops = [frame(KEY, size * 4), ("advance-clock", 10)]
    for i in range(deltas):
        ops += [frame(NON_REFERENCE if i % 3 == 2 else DELTA, size),
                ("advance-clock", 10)]
    return ops


KEEPER_SEEDS = {
    # Raw frames, one held (the default), handed over now and then.
    "raw-newest": keeper(*[op for i in range(6) for op in (
        frame(), ("advance-clock", 33), *([take(KEEP)] if i % 2 else []))]),
    # leaky=no: the producer would block; the consumer makes room.
    "raw-blocking": keeper(("set-policy", NONE), ("set-limits", 2, 0, 0),
                           *[frame(size=10 + i) for i in range(6)],
                           take(), take(), take()),
    # Limits on bytes and time, drop-arriving.
    "raw-limits": keeper(("set-limits", 0, 40, 50),
                         ("set-policy", DROP_ARRIVING),
                         *[op for i in range(5) for op in (
                             frame(size=20 + 5 * i, ago=i),
                             ("advance-clock", 20))],
                         ("set-limits", 1, 0, 0), ("set-policy", DROP_OLDEST),
                         take()),
    # Encoded, on demand at a pace: the newest chain, decode-only first.
    "encoded-on-demand": keeper(("set-decode-mode", ON_DEMAND),
                                ("set-pace", 30), ("set-newest-only", 1),
                                ("set-limits", 2, 0, 0), *gop(5),
                                take(NEWEST | KEEP), take(NEWEST),
                                take(NEWEST), *gop(4), take(NEWEST)),
    # Encoded, key units only: delta units skipped as they come.
    "encoded-key-units": keeper(("set-decode-mode", KEY_UNITS), *gop(3),
                                *gop(3), take(NEWEST), take(NEWEST)),
    # Encoded, auto, max-age: the key interval decides the mode.
    "encoded-auto": keeper(("set-decode-mode", AUTO), ("set-pace", 100),
                           ("set-max-age", 200), *gop(2), *gop(2), *gop(2),
                           take(NEWEST), ("advance-clock", 250),
                           take(NEWEST)),
    # A chain broken by a drop: its delta units go, until a key unit.
    "encoded-broken-chain": keeper(("set-limits", 1, 0, 0),
                                   ("set-policy", DROP_ARRIVING), *gop(2),
                                   frame(KEY), frame(DELTA), take(), take(),
                                   frame(DELTA), frame(KEY), take()),
    # A shared budget: held and in-flight bytes under the cap.
    "budget": keeper(("set-budget", 2, 20), ("set-limits", 0, 0, 0),
                     *[frame(size=30) for _ in range(5)], take(KEEP),
                     take(KEEP), frame(size=100), ("release-charge", 0),
                     frame(size=50), ("set-budget", 1, 255), take()),
    # Two keepers in one budget, asking for different caps.
    "budget-shared": keeper(("set-budget", 2, 20), ("neighbour-budget", 1, 12),
                            ("neighbour-admit", 10), ("neighbour-admit", 10),
                            ("set-limits", 3, 0, 0), frame(size=30),
                            frame(size=30), ("neighbour-take", 1),
                            ("neighbour-admit", 12), frame(size=40),
                            take(KEEP), ("neighbour-budget", 0, 0),
                            frame(size=40), ("neighbour-take", 2)),
    # max-age: frames over it dropped on the way; arrivals late.
    "max-age": keeper(("set-max-age", 20), ("set-limits", 3, 0, 0),
                      frame(ago=5), frame(ago=10), ("advance-clock", 30),
                      take(), frame(ago=40), take(), frame(flags=0),
                      ("advance-clock", 25), take()),
    # Markers of every kind, a query answered, one refused.
    "markers": keeper(("admit-marker", STICKY), frame(),
                      ("admit-marker", QUERY), ("admit-marker", PLAIN),
                      take(), take(ACCEPT), take(), ("admit-marker", QUERY),
                      take(), ("admit-marker", NEW_STREAM), frame(), take()),
    # End of stream, flush-on-eos, a new stream, flushes.
    "eos-flush": keeper(frame(), ("set-flush-on-eos", 1),
                        ("admit-marker", END), frame(), take(), take(),
                        ("admit-marker", NEW_STREAM), frame(),
                        ("flush-start",), frame(), ("admit-marker", STICKY),
                        ("flush-stop",), frame(), ("deactivate",),
                        ("activate",), frame(), take()),
    # Downstream: EOS, not linked, relinked, failed.
    "downstream": keeper(frame(), frame(), ("downstream-eos",), frame(),
                         ("admit-marker", NEW_STREAM), frame(),
                         ("unlinked",), frame(), ("relink",), take(),
                         ("failed",), frame(), ("flush-start",),
                         ("activate",), frame(), take()),
    # Thresholds and signals: the consumer waits for two frames.
    "thresholds": keeper(("set-thresholds", 2, 0, 0), ("set-limits", 3, 0, 0),
                         frame(flags=TIMED | SIGNALS), take(HOOKS),
                         frame(flags=TIMED | SIGNALS), take(HOOKS),
                         take(HOOKS), frame(), take(HOOKS)),
    # A non-live upstream: held up rather than dropped from.
    "not-live": keeper(("set-live", 0), ("set-limits", 1, 0, 0),
                       frame(), frame(), frame(), ("set-leak-non-live", 1),
                       frame(), ("set-live", 1), take()),
    # Running times going back, capture times beside.
    "times": keeper(("set-limits", 0, 0, 30), frame(ago=0),
                    frame(ago=50, flags=TIMED | BACK),
                    frame(ago=5, flags=TIMED | CAPTURE), frame(flags=0),
                    take(), take()),
}

# ---- fuzz_stamp: width, height, padding, flags, value, pixels ----------


def stamp(width, height, padding=0, flags=0, value=0, pixels=b""):
    return struct.pack("<HBBBQ", width, height, padding, flags, value) + pixels


STAMP_SEEDS = {
    "smallest-8px-blocks": stamp(128, 40, value=1),
    "smallest-16px-blocks": stamp(256, 80, value=0x0123456789ABCDEF),
    "padded-stride": stamp(320, 90, padding=7, value=0xFFFFFFFFFFFFFFFF,
                           pixels=bytes(range(0, 256, 3))),
    "grey": stamp(640, 120, padding=32, value=0x5A5A, pixels=b"\x80"),
    "noise": stamp(200, 60, padding=1, value=42,
                   pixels=bytes((i * 97) % 256 for i in range(251))),
    "too-narrow": stamp(127, 200, value=7),
    "too-short": stamp(300, 79, value=7),
    "negative-size": stamp(320, 90, flags=3, value=7),
    "empty": stamp(0, 0),
}

# ---- fuzz_element: start byte, then opcode + 3 argument bytes ----------

(OP_CAPS, OP_BUFFER, OP_EVENT, OP_PROPERTY, OP_PULL, OP_TRY_PULL_FRAME,
 OP_CLOCK, OP_STATE_CYCLE, OP_QUERY, OP_CHECK_STATS) = range(10)
ON_REQUEST, SILENT, NOT_LIVE = 1, 2, 4
# caps kinds
RAW_I420, H264, RAW_NO_FIELDS, UNKNOWN_MEDIA, H265 = 0, 2, 3, 4, 5
RAW_NV12, RAW_BOGUS_FORMAT = 0 + 6, 1 + 30
# buffer flags
PTS, DTS, DURATION, DELTA_UNIT, DROPPABLE, DISCONT, META, REORDER = (
    1, 2, 4, 8, 16, 32, 64, 128)
# events
(SEGMENT_TIME, SEGMENT_BYTES, SEGMENT_BASE, GAP, FLUSH_START, FLUSH_STOP,
 EOS, STREAM_START, TAG, CUSTOM, CUSTOM_STICKY, CUSTOM_OOB) = range(12)
# properties
(LEAKY, MAX_BUFFERS, MAX_BYTES, MAX_TIME, MAX_AGE, MIN_BUFFERS, MIN_BYTES,
 MIN_TIME, DECODE, ANALYSIS_RATE, SILENT_PROPERTY, FLUSH_ON_EOS, BUDGET,
 BUDGET_BYTES, AGE_FROM, STATS_INTERVAL, LEAKY_NON_LIVE, LIVE) = range(18)
# queries
(ALLOCATION, DRAIN, CAPS_QUERY, LATENCY, POSITION, SCHEDULING, RECONFIGURE,
 QOS) = range(8)


def element(start, *ops):
    out = bytearray([start])
    for op in ops:
        code, *args = op
        args += [0] * (3 - len(args))
        out += bytes([code, *args])
    return bytes(out)


def buf(flags=PTS | DURATION, size=40, step=33):
    return (OP_BUFFER, flags, size, step)


def prop(which, value=0):
    return (OP_PROPERTY, which, value)


def event(kind, a=0, b=0):
    return (OP_EVENT, kind, a, b)


RAW_START = [(OP_CAPS, RAW_I420, 8, 6), event(SEGMENT_TIME)]
H264_START = [(OP_CAPS, H264, 80, 60), event(SEGMENT_TIME)]


def h264_gop(deltas):
    ops = [buf(PTS | DTS | DURATION, size=200)]
    for i in range(deltas):
        flags = PTS | DTS | DURATION | DELTA_UNIT
        ops.append(buf(flags | (DROPPABLE if i % 3 == 2 else 0), size=20))
    return ops


ELEMENT_SEEDS = {
    "raw-push": element(0, *RAW_START, *[buf() for _ in range(5)],
                        (OP_PULL, 1), (OP_PULL, 0), (OP_CHECK_STATS,)),
    "raw-on-request": element(ON_REQUEST, *RAW_START, buf(), buf(), buf(),
                              (OP_TRY_PULL_FRAME, 2), buf(),
                              (OP_TRY_PULL_FRAME, 1), (OP_CLOCK, 50),
                              (OP_TRY_PULL_FRAME, 4)),
    "h264-on-demand": element(0, prop(DECODE, 1), prop(ANALYSIS_RATE, 1),
                              *H264_START, *h264_gop(5), (OP_PULL, 0),
                              *h264_gop(4), (OP_PULL, 0), (OP_PULL, 0)),
    "h264-key-units-on-request": element(
        ON_REQUEST, prop(DECODE, 2), *H264_START, *h264_gop(3),
        *h264_gop(3), (OP_TRY_PULL_FRAME, 0)),
    "h264-reordered": element(0, prop(DECODE, 1), *H264_START,
                              *[buf(PTS | DTS | REORDER | DELTA_UNIT, 30)
                                for _ in range(4)], (OP_PULL, 0)),
    "flush-eos": element(0, *RAW_START, buf(), buf(), event(FLUSH_START),
                         buf(), event(FLUSH_STOP, 1), buf(),
                         prop(FLUSH_ON_EOS, 1), event(EOS), buf(),
                         event(STREAM_START, 2), *RAW_START, buf(),
                         (OP_PULL, 0)),
    "odd-input": element(0, event(SEGMENT_BYTES), buf(0, size=0),
                         buf(PTS, size=1), event(GAP, 10),
                         (OP_CAPS, RAW_I420, 0, 0), buf(PTS, size=3),
                         (OP_CAPS, UNKNOWN_MEDIA), buf(DTS, size=5),
                         (OP_CAPS, RAW_NO_FIELDS), (OP_CAPS, RAW_BOGUS_FORMAT,
                                                    4, 4),
                         buf(PTS, size=255), event(TAG), event(CUSTOM),
                         event(CUSTOM_STICKY), event(CUSTOM_OOB)),
    "segments": element(0, (OP_CAPS, RAW_I420, 8, 6),
                        event(SEGMENT_TIME, 1, 10), buf(),
                        event(SEGMENT_TIME, 3, 5), buf(),
                        event(SEGMENT_BASE, 7, 3), buf(), buf(step=255)),
    "budget": element(0, prop(BUDGET, 2), prop(BUDGET_BYTES, 40),
                      prop(MAX_BUFFERS, 0), *RAW_START,
                      *[buf(size=100) for _ in range(4)], (OP_PULL, 1),
                      buf(size=255), prop(BUDGET, 0), buf()),
    "state-cycles": element(0, *RAW_START, buf(), (OP_STATE_CYCLE, 1),
                            *RAW_START, buf(), (OP_TRY_PULL_FRAME, 0),
                            (OP_STATE_CYCLE, 1), buf(), (OP_PULL, 0)),
    "queries": element(0, *RAW_START, buf(), (OP_QUERY, ALLOCATION, 1),
                       (OP_QUERY, DRAIN), (OP_QUERY, CAPS_QUERY),
                       (OP_QUERY, LATENCY), (OP_QUERY, POSITION, 1),
                       (OP_QUERY, SCHEDULING), (OP_QUERY, RECONFIGURE),
                       (OP_QUERY, QOS, 5)),
    "not-live-blocking": element(NOT_LIVE, prop(LEAKY, 0),
                                 prop(MAX_BUFFERS, 2), *RAW_START,
                                 *[buf() for _ in range(6)],
                                 prop(LEAKY_NON_LIVE, 1), buf(),
                                 (OP_PULL, 0)),
    "max-age-capture-time": element(0, prop(MAX_AGE, 20), prop(AGE_FROM, 1),
                                    *RAW_START,
                                    buf(PTS | META, step=0),
                                    buf(PTS | META, step=1),
                                    buf(PTS | META, step=2 | 40),
                                    (OP_CLOCK, 30), buf(), (OP_PULL, 0),
                                    prop(AGE_FROM, 3), buf()),
    "thresholds-signals": element(0, prop(MIN_BUFFERS, 2),
                                  prop(MAX_BUFFERS, 3),
                                  prop(STATS_INTERVAL, 1), *RAW_START, buf(),
                                  buf(), buf(), (OP_PULL, 0),
                                  prop(MIN_TIME, 50), buf()),
}


# Reproducers of the bugs fuzzing found, kept in the corpus so that every
# short run replays them.
KEEPER_REGRESSIONS = {
    # A frame 1 ms before the running clock started and one close to 2^63
    # ns: the span between them (newest minus oldest) overflowed a signed
    # integer when the second arrived under a time limit.
    "span-negative-to-2-63": keeper(
        ("set-limits", 0, 0, 1), frame(size=1, ago=101),
        frame(size=1, ago=0, flags=TIMED | FAR)),
    # flush-on-eos dropped held frames that were all non-reference units:
    # the keeper took the chain for broken and dropped the next
    # non-reference unit as broken-chain, though nothing it needs had gone.
    "flush-on-eos-non-reference": keeper(
        ("set-flush-on-eos", 1), frame(NON_REFERENCE, flags=0),
        ("admit-marker", END), ("admit-marker", NEW_STREAM),
        frame(NON_REFERENCE, flags=0)),
}

ELEMENT_REGRESSIONS = {
    # A capture time of 2^63 ns or more (here 134 << 56, in a timestamp/x-unix
    # meta) read as a negative Unix time: capture_clock::place() subtracted
    # it from the wall clock with a signed overflow.
    "capture-time-past-2-63": element(0, *RAW_START, buf(PTS | META, 5, 134)),
    # A segment whose base is 2^63 - 1 ns: the next frame's running time
    # passed 2^63 and, cast to a signed time, came negative; the keeper's
    # age (running clock minus it) overflowed when the frame was pushed (the
    # ALLOCATION query waits for that).
    # A frame captured 1 s before the running clock started (a negative
    # time) held on request, then one whose running time is 2^63 ns less 85
    # ms: the span between them overflowed under max-size-time.
    "span-negative-to-2-63": element(ON_REQUEST, *RAW_START,
                                     prop(MAX_BUFFERS, 0), prop(MAX_TIME, 1),
                                     buf(PTS | META, 5, 82),
                                     event(SEGMENT_BASE, 16, 10),
                                     buf(PTS, 5, 33)),
    "running-time-past-2-63": element(0, (OP_CAPS, RAW_I420, 8, 6),
                                      event(SEGMENT_BASE, 16, 0),
                                      (OP_CLOCK, 255), buf(PTS, 5, 33),
                                      (OP_QUERY, ALLOCATION)),
}


def write(target, seeds, regressions=None):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for path in list(folder.glob("seed-*")) + list(folder.glob("regression-*")):
        path.unlink()
    for name, data in seeds.items():
        (folder / f"seed-{name}").write_bytes(data)
    for name, data in (regressions or {}).items():
        (folder / f"regression-{name}").write_bytes(data)
    print(f"{folder}: {len(seeds)} seeds, {len(regressions or {})} regressions")


if __name__ == "__main__":
    write("keeper", KEEPER_SEEDS, KEEPER_REGRESSIONS)
    write("stamp", STAMP_SEEDS)
    write("element", ELEMENT_SEEDS, ELEMENT_REGRESSIONS)
