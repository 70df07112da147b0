# Type stubs of the extension (binding.cpp): the signatures its keywords and
# return values have, which pybind11 cannot tell type checkers. The defaults
# and docs are the extension's (help(latestframe.Capture)), not repeated.
from types import TracebackType
from typing import Iterator, Optional, Tuple, Type, TypedDict, Union

import numpy
import numpy.typing

__version__: str
CAP_PROP_FRAME_WIDTH: int
CAP_PROP_FRAME_HEIGHT: int
CAP_PROP_FPS: int

_Frame = numpy.typing.NDArray[Union[numpy.uint8, numpy.uint16]]

class FrameInfo:
    @property
    def sequence(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def pts_ns(self) -> int: ...
    @property
    def age_ns(self) -> int: ...
    @property
    def capture_time_ns(self) -> int: ...
    @property
    def received(self) -> float: ...
    @property
    def connection(self) -> int: ...

class _CaptureStats(TypedDict):
    state: str
    received: int
    pushed: int
    dropped: int
    # drop reasons: generated from src/core/latestframe/drop_reasons.h by tests/docs/reference.py --write
    dropped_overflow: int
    dropped_age: int
    dropped_budget: int
    dropped_flush: int
    dropped_superseded: int
    dropped_broken_chain: int
    dropped_skipped_delta: int
    # end of the generated drop reasons
    capture_time_frames: int
    capture_time_unused: int
    not_decoded: int
    decode_only: int
    capture_clock_fallback: bool
    held_frames: int
    held_bytes: int
    in_flight_bytes: int
    peak_bytes: int
    age_p50_ns: int
    age_p95_ns: int
    age_max_ns: int
    memory_budget_bytes: int
    memory_budget_used: int
    returned: int
    skipped: int
    reconnects: int
    stalls: int
    copied: int
    width: int
    height: int
    fps: float
    last_error: str

class Capture:
    def __init__(
        self,
        source: Union[str, int, None] = None,
        *,
        format: str = ...,
        read_timeout: float = ...,
        open_timeout: float = ...,
        max_age: float = ...,
        decode: str = ...,
        analysis_rate: float = ...,
        memory_budget: str = ...,
        memory_budget_bytes: int = ...,
        protocols: str = ...,
        username: str = ...,
        password: str = ...,
        latency: float = ...,
        reconnect: bool = ...,
        stall_timeout: float = ...,
        backoff_initial: float = ...,
        backoff_max: float = ...,
        analysis: str = ...,
        open_in_background: bool = ...,
    ) -> None: ...
    def open(
        self,
        source: Union[str, int],
        *,
        format: str = ...,
        read_timeout: float = ...,
        open_timeout: float = ...,
        max_age: float = ...,
        decode: str = ...,
        analysis_rate: float = ...,
        memory_budget: str = ...,
        memory_budget_bytes: int = ...,
        protocols: str = ...,
        username: str = ...,
        password: str = ...,
        latency: float = ...,
        reconnect: bool = ...,
        stall_timeout: float = ...,
        backoff_initial: float = ...,
        backoff_max: float = ...,
        analysis: str = ...,
        open_in_background: bool = ...,
    ) -> bool: ...
    def isOpened(self) -> bool: ...
    def read(
        self, timeout: Optional[float] = None
    ) -> Union[Tuple[bool, _Frame], Tuple[bool, None]]: ...
    def read_with_info(
        self, timeout: Optional[float] = None
    ) -> Union[Tuple[_Frame, FrameInfo], Tuple[None, None]]: ...
    def release(self) -> None: ...
    def get(self, prop_id: int) -> float: ...
    def set(self, prop_id: int, value: float) -> bool: ...
    def stats(self) -> _CaptureStats: ...
    @property
    def state(self) -> str: ...
    @property
    def last_error(self) -> str: ...
    def __enter__(self) -> "Capture": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None: ...
    def __iter__(self) -> Iterator[Tuple[_Frame, FrameInfo]]: ...
    def __next__(self) -> Tuple[_Frame, FrameInfo]: ...
