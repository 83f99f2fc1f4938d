"""Length-prefixed msgpack frames over pipes, with an incremental decoder for non-blocking reads.

A frame is a 4-byte big-endian payload length followed by one msgpack object. Frames are
bounded (``MAX_FRAME``): a length above the bound, or a payload that is not exactly one valid
msgpack object, raises ``FrameError`` — the pool then kills the worker that sent it.
"""

from __future__ import annotations

import struct
from typing import Final

import msgpack

MAX_FRAME: Final = 16 * 1024 * 1024
_HEADER: Final = struct.Struct(">I")


class FrameError(ValueError):
    """Raised when a peer sends a frame that is too large or does not decode.

    ``decoded`` holds the whole messages that arrived before the bad frame in the same call,
    so that a caller can still act on them.
    """

    def __init__(self, message: str, decoded: list[object] | None = None) -> None:
        super().__init__(message)
        self.decoded: list[object] = decoded if decoded is not None else []


def encode_frame(message: object, max_frame: int = MAX_FRAME) -> bytes:
    """One frame holding ``message``; raises FrameError when it would exceed ``max_frame``."""
    payload = msgpack.packb(message, use_bin_type=True)
    if len(payload) > max_frame:
        raise FrameError(f"a frame of {len(payload)} bytes exceeds the limit of {max_frame}")
    return _HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Turns bytes arriving in arbitrary pieces into whole messages."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._broken: FrameError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not form a whole frame yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[object]:
        """Add ``data``; return the messages it completes, in order.

        After a FrameError the stream is out of sync for good: every later call raises again
        (with nothing in ``decoded``).
        """
        if self._broken is not None:
            raise FrameError(str(self._broken))
        self._buffer += data
        messages: list[object] = []
        start = 0
        buffer = self._buffer
        while len(buffer) - start >= _HEADER.size:
            (length,) = _HEADER.unpack_from(buffer, start)
            if length > self.max_frame:
                self._broken = FrameError(
                    f"a frame announces {length} bytes, above the limit of {self.max_frame}",
                    messages,
                )
                raise self._broken
            end = start + _HEADER.size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[start + _HEADER.size : end])
            try:
                messages.append(msgpack.unpackb(payload, raw=False, strict_map_key=False))
            except Exception as error:  # msgpack raises several unrelated types
                self._broken = FrameError(
                    f"a frame does not decode: {type(error).__name__}: {error}", messages
                )
                raise self._broken from error
            start = end
        del buffer[:start]
        return messages
