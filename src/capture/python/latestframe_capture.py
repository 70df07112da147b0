"""Always the newest frame of a camera, as a NumPy array (PyGObject + latestframe).

The Python counterpart of the C++ ``latestframe::capture``, for code coming
from ``cv2.VideoCapture`` loops and multiprocessing "latest frame" stacks::

    from latestframe_capture import Capture

    camera = Capture("rtsp://127.0.0.1:8554/cam")      # cv2.VideoCapture(url)
    while True:
        ok, frame = camera.read(timeout=2.0)            # newest, never twice
        if not ok:
            break
        ...                                             # as slow as it needs
    print(camera.stats())
    camera.release()    # or: with Capture(url) as camera: ...

Release a capture when done (or use it in a ``with`` block): its pipeline
and the streaming thread it holds live until then.

How: ``source ! decodebin ! latestframe ! videoconvert ! appsink``. latestframe
keeps only the newest decoded frame; its streaming thread is held until
``read`` asks, so only frames that are read are converted, and the frame
read is the newest there is. Each frame read is copied once into its own
array (writable, and independent of GStreamer's buffers).

Unlike the C++ capture, this module does not reconnect: when the source
fails or ends, ``state`` says so and ``read`` returns ``(False, None)``.
"""

import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

import numpy as np  # noqa: E402

__all__ = ["Capture", "FrameInfo"]

# GStreamer format -> channels of the array read() returns.
_CHANNELS = {"BGR": 3, "RGB": 3, "BGRx": 4, "BGRA": 4, "RGBx": 4, "RGBA": 4,
             "GRAY8": 1}


class FrameInfo:
    """What read_with_info() says about a frame."""

    __slots__ = ("sequence", "skipped", "pts_ns", "received")

    def __init__(self, sequence, skipped, pts_ns, received):
        # 1 for the first frame received since open.
        self.sequence = sequence
        # Frames received since the previous frame returned, never returned.
        self.skipped = skipped
        # The frame's stream timestamp in ns, or -1.
        self.pts_ns = pts_ns
        # time.monotonic() when the frame reached latestframe.
        self.received = received

    def __repr__(self):
        return (f"FrameInfo(sequence={self.sequence}, skipped={self.skipped}, "
                f"pts_ns={self.pts_ns})")


class Capture:
    """A source read as "always the newest frame" (see the module's doc).

    source: an rtsp:// URI, a file:// or other URI (played at its own pace,
    as a camera would deliver it), a V4L2 device (/dev/videoN), or a
    pipeline description whose last element outputs raw video.

    format: of the arrays read: BGR, RGB (h x w x 3), BGRx, BGRA, RGBx, RGBA
    (h x w x 4) or GRAY8 (h x w). protocols: RTSP transports ("tcp", "udp").
    latency_ms: rtspsrc's jitter buffer. max_age_ms: never return a frame
    decoded longer ago than this; read waits for the next one instead (0:
    the newest at once, however old). memory_budget(_bytes): latestframe's
    shared memory budget. open_timeout, read_timeout: seconds.
    """

    def __init__(self, source=None, format="BGR", protocols=None,
                 latency_ms=0, max_age_ms=0, memory_budget=None,
                 memory_budget_bytes=0, open_timeout=10.0, read_timeout=10.0):
        if format not in _CHANNELS:
            raise ValueError(f"format must be one of {sorted(_CHANNELS)}")
        Gst.init(None)
        self.format = format
        self.protocols = protocols
        self.latency_ms = latency_ms
        self.max_age_ms = max_age_ms
        self.memory_budget = memory_budget
        self.memory_budget_bytes = memory_budget_bytes
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.last_error = ""
        self._pipeline = None
        self._lock = threading.Condition()
        self._reset()
        if source is not None:
            self.open(source)

    def _reset(self):
        self.state = "closed"
        self._stopping = False
        self._demand = False
        self._received = 0
        self._returned_sequence = 0
        self._returned = 0
        self._skipped = 0
        self._arrivals = {}
        self._in_transit = None
        # A serialized query upstream waits on (ALLOCATION after a
        # resolution change), or a flush: held frames are let go meanwhile.
        self._waiting_query = False
        self._flushing = False
        self._delivered = None
        self._final_stats = {}

    # -- opening and closing -------------------------------------------------

    def _description(self, source):
        tail = (f" ! latestframe name=latest ! videoconvert"
                f" ! video/x-raw,format={self.format}"
                f" ! appsink name=sink sync=false max-buffers=1 drop=false"
                f" enable-last-sample=false emit-signals=true")
        if source.startswith(("rtsp://", "rtsps://")):
            # Video only: a camera's audio stream may come first.
            return ("rtspsrc name=source ! application/x-rtp,media=video"
                    " ! decodebin" + tail, "location")
        if source.startswith("/dev/video"):
            return "v4l2src name=source ! decodebin" + tail, "device"
        if "://" in source and Gst.uri_is_valid(source):
            return ("uridecodebin name=source ! video/x-raw ! clocksync"
                    + tail, "uri")
        return source + tail, None

    def open(self, source):
        """Starts reading source; waits (open_timeout) for its first frame.

        False, and closed, when none came; last_error says why.
        """
        self.release()
        self._reset()
        description, source_property = self._description(source)
        try:
            pipeline = Gst.parse_launch(description)
        except gi.repository.GLib.Error as error:
            self.last_error = f"cannot build the pipeline: {error.message}"
            return False
        if source_property:
            source_element = pipeline.get_by_name("source")
            source_element.set_property(source_property, source)
            if source_property == "location":
                source_element.set_property("latency", self.latency_ms)
                if self.protocols:
                    Gst.util_set_object_arg(source_element, "protocols",
                                            self.protocols)
        self._latest = pipeline.get_by_name("latest")
        if self.memory_budget:
            self._latest.set_property("memory-budget", self.memory_budget)
            self._latest.set_property("memory-budget-bytes",
                                      self.memory_budget_bytes)
        self._latest.get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER, self._on_frame_arrives)
        self._latest.get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER, self._on_frame_leaves)
        self._latest.get_static_pad("sink").add_probe(
            Gst.PadProbeType.QUERY_DOWNSTREAM, self._on_query_arrives)
        self._latest.get_static_pad("src").add_probe(
            Gst.PadProbeType.QUERY_DOWNSTREAM | Gst.PadProbeType.EVENT_FLUSH,
            self._on_query_or_flush_leaves)
        pipeline.get_by_name("sink").connect("new-sample",
                                             self._on_frame_converted)
        self._pipeline = pipeline
        self._bus = pipeline.get_bus()
        self._file = source.startswith("file://")
        self.state = "connecting"
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._poll_bus()
            self.release(keep_error=True)
            return False
        deadline = time.monotonic() + self.open_timeout
        while self.state == "connecting" and time.monotonic() < deadline:
            self._poll_bus(0.05)
        if self.state in ("streaming", "ended"):
            return True
        if not self.last_error:
            self.last_error = f"no frame within {self.open_timeout} s"
        self.release(keep_error=True)
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()

    def isOpened(self):
        """True from a successful open until release()."""
        return self._pipeline is not None

    def release(self, keep_error=False):
        """Stops the pipeline and frees it. Idempotent."""
        if self._pipeline is None:
            return
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._final_stats = self.stats()
        self._pipeline.set_state(Gst.State.NULL)
        self._pipeline = None
        self._latest = None
        self._bus = None
        with self._lock:
            self._delivered = None
            self.state = "closed"
        if not keep_error:
            self.last_error = ""

    # -- the streaming threads -----------------------------------------------

    def _on_frame_arrives(self, pad, info):
        buffer = info.get_buffer()
        with self._lock:
            self._received += 1
            self._waiting_query = False  # upstream is not waiting any more
            key = buffer.pts if buffer.pts != Gst.CLOCK_TIME_NONE else None
            # Newest last: a pool reuses buffers, and so keys.
            self._arrivals.pop(key, None)
            self._arrivals[key] = (self._received, time.monotonic())
            if len(self._arrivals) > 64:
                self._arrivals.pop(next(iter(self._arrivals)))
            if self.state == "connecting":
                self.state = "streaming"
        return Gst.PadProbeReturn.OK

    @staticmethod
    def _is_serialized(info):
        # The query's Python wrapper holds a reference, which would make the
        # query read-only for the elements that answer it: let it go at once.
        query_type = info.get_query().type
        return bool(Gst.query_type_get_flags(query_type)
                    & Gst.QueryTypeFlags.SERIALIZED)

    def _on_query_arrives(self, pad, info):
        # Upstream's thread: a serialized query goes into latestframe's
        # queue (PUSH) and comes back answered (PULL).
        if self._is_serialized(info):
            with self._lock:
                self._waiting_query = bool(info.type & Gst.PadProbeType.PUSH)
                self._lock.notify_all()
        return Gst.PadProbeReturn.OK

    def _on_query_or_flush_leaves(self, pad, info):
        # A serialized query left latestframe's queue, or a flush.
        if info.type & Gst.PadProbeType.EVENT_FLUSH:
            flushing = info.get_event().type == Gst.EventType.FLUSH_START
            with self._lock:
                self._flushing = flushing
                self._lock.notify_all()
        elif self._is_serialized(info):
            with self._lock:
                self._waiting_query = False
        return Gst.PadProbeReturn.OK

    def _on_frame_leaves(self, pad, info):
        # Held until a read asks; dropped if a newer frame came meanwhile.
        buffer = info.get_buffer()
        with self._lock:
            while not (self._demand or self._stopping or self._flushing
                       or self._waiting_query):
                self._lock.wait()
            if self._stopping or self._flushing or not self._demand:
                return Gst.PadProbeReturn.DROP
            if self._latest.get_property("current-level-buffers") > 0:
                return Gst.PadProbeReturn.DROP
            key = buffer.pts if buffer.pts != Gst.CLOCK_TIME_NONE else None
            sequence, received = self._arrivals.get(
                key, (self._received, time.monotonic()))
            # Too old for max_age_ms: wait for the next one instead.
            if (self.max_age_ms
                    and (time.monotonic() - received) * 1000 > self.max_age_ms):
                return Gst.PadProbeReturn.DROP
            pts = buffer.pts if key is not None else -1
            self._in_transit = FrameInfo(sequence, 0, pts, received)
        return Gst.PadProbeReturn.OK

    def _on_frame_converted(self, sink):
        sample = sink.emit("pull-sample")
        frame = self._array_of(sample) if sample else None
        with self._lock:
            if frame is not None and not self._stopping:
                self._delivered = (frame, self._in_transit)
                self._demand = False
                self._lock.notify_all()
        return Gst.FlowReturn.OK

    def _array_of(self, sample):
        info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
        buffer = sample.get_buffer()
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        if not ok:
            return None
        try:
            channels = _CHANNELS[self.format]
            stride, offset = info.stride[0], 0
            meta = GstVideo.buffer_get_video_meta(buffer)
            if meta is not None:  # its strides, not the caps'
                stride, offset = meta.stride[0], meta.offset[0]
            flat = np.frombuffer(mapped.data, dtype=np.uint8,
                                 count=stride * info.height, offset=offset)
            rows = flat.reshape(info.height, stride)[:, :info.width * channels]
            shape = (info.height, info.width) + ((channels,) if channels > 1 else ())
            return rows.reshape(shape).copy()
        finally:
            buffer.unmap(mapped)

    # -- reading ---------------------------------------------------------------

    def _poll_bus(self, timeout=0.0):
        if self._bus is None:
            return
        message = self._bus.timed_pop_filtered(
            int(timeout * Gst.SECOND),
            Gst.MessageType.ERROR | Gst.MessageType.EOS)
        if message is None:
            return
        with self._lock:
            if message.type == Gst.MessageType.ERROR:
                error, _ = message.parse_error()
                self.last_error = f"{message.src.get_name()}: {error.message}"
                self.state = "failed"
            else:
                self.state = "ended"
            self._lock.notify_all()

    def read_with_info(self, timeout=None):
        """(frame, FrameInfo) for the newest frame not returned before, or
        (None, None) when none came within timeout seconds (read_timeout
        by default), after the end or an error, or when closed."""
        if self._pipeline is None:
            return None, None
        deadline = time.monotonic() + (self.read_timeout if timeout is None
                                       else timeout)
        self._poll_bus()
        with self._lock:
            # Left by a read that gave up: still good if nothing newer came
            # and it is young enough for max_age_ms.
            if self._delivered and (
                    self._delivered[1].sequence != self._received
                    or (self.max_age_ms and (time.monotonic()
                        - self._delivered[1].received) * 1000 > self.max_age_ms)):
                self._delivered = None
            while self._delivered is None:
                if self.state in ("ended", "failed", "closed"):
                    return None, None
                self._demand = True
                self._lock.notify_all()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._demand = False
                    return None, None
                # Wake now and then to see the bus (errors, end of stream).
                self._lock.wait(min(remaining, 0.1))
                if self._delivered is None:
                    self._lock.release()
                    try:
                        self._poll_bus()
                    finally:
                        self._lock.acquire()
            frame, info = self._delivered
            self._delivered = None
            info.skipped = max(0, info.sequence - self._returned_sequence - 1)
            self._returned_sequence = max(self._returned_sequence, info.sequence)
            self._returned += 1
            self._skipped += info.skipped
            return frame, info

    def read(self, timeout=None):
        """(True, frame) like cv2.VideoCapture.read, or (False, None)."""
        frame, _ = self.read_with_info(timeout)
        return frame is not None, frame

    def stats(self):
        """latestframe's figures ('received', 'dropped', 'dropped-overflow',
        'in-flight-bytes', 'age-p95' (ns), ...) plus the capture's:
        'returned', 'skipped' and 'state'."""
        figures = dict(self._final_stats)
        if self._latest is not None:
            structure = self._latest.get_property("stats")
            for index in range(structure.n_fields()):
                name = structure.nth_field_name(index)
                figures[name] = structure.get_value(name)
        with self._lock:
            figures.update(returned=self._returned, skipped=self._skipped,
                           state=self.state)
        return figures
