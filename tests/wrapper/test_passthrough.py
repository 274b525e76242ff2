"""Property tests of the passthrough's accounting, in-process on a real pipe: whatever
the job writes and however the reader reads, every byte is either delivered, in order,
or counted as dropped; a write never blocks; the buffer stays bounded."""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smartcron.wrapper.passthrough import BUFFER_BYTES, Passthrough

# Steps: offer a chunk of the job's output (its length), or let the reader take up to
# N bytes. The pipe's own buffer (64 KiB) plus ours is what a stalled reader leaves room for.
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.integers(1, 200_000)),
        st.tuples(st.just("read"), st.integers(1, 300_000)),
    ),
    max_size=40,
)


def read_some(fd: int, limit: int) -> bytes:
    data = b""
    while len(data) < limit:
        try:
            chunk = os.read(fd, min(65536, limit - len(data)))
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return data


def channel(kind: str) -> tuple[int, int]:
    """(read end, write end): a pipe is reopened non-blocking, a socket written under poll()."""
    if kind == "pipe":
        return os.pipe()
    ours, theirs = socket.socketpair()
    return ours.detach(), theirs.detach()


@pytest.mark.parametrize("kind", ["pipe", "socket"])
@settings(max_examples=60, deadline=None)
@given(steps=STEPS, read_all_at_end=st.booleans())
def test_every_byte_is_delivered_in_order_or_counted(
    kind: str, steps: list[tuple[str, int]], read_all_at_end: bool
) -> None:
    read_end, write_end = channel(kind)
    os.set_blocking(read_end, False)
    output = Passthrough(write_end)
    offered, accepted, received = 0, bytearray(), bytearray()
    try:
        for number, (step, size) in enumerate(steps):
            if step == "offer":
                chunk = bytes([number % 251]) * size
                dropped_before = output.dropped
                output.offer(chunk)  # returns at once, whatever the reader does
                offered += size
                if output.dropped == dropped_before:
                    accepted += chunk
                else:
                    assert output.dropped - dropped_before == size, "a chunk is taken or not"
                assert len(output.pending) < BUFFER_BYTES + 200_000, "the buffer is bounded"
            else:
                received += read_some(read_end, size)
                output.flush()
        if read_all_at_end:
            while output.wants_write():
                received += read_some(read_end, 1 << 20)
                output.flush()
        output.drop_pending()  # what the end of a run does with a stalled reader's share
        received += read_some(read_end, 1 << 30)
    finally:
        output.close()
        os.close(write_end)
        os.close(read_end)
    # Delivered bytes are the accepted chunks, in order, minus what was dropped at the end.
    assert bytes(received) == bytes(accepted[: len(received)])
    assert len(received) + output.dropped == offered
    if read_all_at_end:
        assert bytes(received) == bytes(accepted)
