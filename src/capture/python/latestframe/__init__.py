"""Always the newest frame of a camera, as a NumPy array.

``latestframe.Capture`` reads a camera (RTSP, a V4L2 device, a file played at
its own pace, a GStreamer pipeline) so that every read returns the newest
frame there is and never one returned before, however slow the reader. It
has ``cv2.VideoCapture``'s interface, so switching is one line::

    import latestframe

    with latestframe.Capture("rtsp://127.0.0.1:8554/cam") as camera:
        for frame, info in camera:      # NumPy arrays, no copy
            analyse(frame)              # as slow as it needs

See ``help(latestframe.Capture)``. The implementation is the C++ capture
library (``latestframe::capture``), linked into the extension
``latestframe._latestframe`` together with the GStreamer element it uses.
"""

from ._latestframe import (
    CAP_PROP_FPS,
    CAP_PROP_FRAME_HEIGHT,
    CAP_PROP_FRAME_WIDTH,
    Capture,
    FrameInfo,
    __version__,
)

__all__ = [
    "CAP_PROP_FPS",
    "CAP_PROP_FRAME_HEIGHT",
    "CAP_PROP_FRAME_WIDTH",
    "Capture",
    "FrameInfo",
    "__version__",
]
