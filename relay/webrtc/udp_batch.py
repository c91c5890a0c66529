"""A frame's datagrams to one viewer in as few system calls as Linux allows: UDP GSO.

A UDP socket given `UDP_SEGMENT` (Linux 4.18+) takes one buffer of back-to-back datagrams of
one size (the last may be shorter) and the kernel cuts it into datagrams after the send: one
`sendmsg` and one trip through the IP stack instead of one per packet. The receiver sees the
same datagrams as with a `sendto` each. The FU-A fragments of one NAL unit are one size (give
or take a byte; aiortc puts the larger ones first), so a one-slice 720p frame of ~10 packets
goes out in 2-3 calls; packets of their own sizes (a sliced encoder's small slices, STAP-A) go
one `sendto` each. `bench/relay_packet_cost.py`: ~1.2 µs per packet against ~4.1 for a
`sendto` each (loopback, 1,200-byte packets).

This takes the raw socket under asyncio's datagram transport; when that transport has data
queued (the socket was full), everything goes through `transport.sendto`, which keeps order.
Where GSO is refused (an older kernel, another platform) it is switched off for the process
and each packet goes through `transport.sendto`, the path tests/test_udp_batch.py also covers.
"""

from __future__ import annotations

import errno
import socket
import struct

UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # linux/udp.h
MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS in the kernel
MAX_BYTES = 65_000  # one GSO buffer must fit one IP datagram's length field


class UdpBatchSender:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled and hasattr(socket.socket, "sendmsg")
        self.calls = 0  # system calls made (tests and the bench)

    def send(self, transport, packets: list[bytes], address: tuple) -> None:
        """Send `packets` (already SRTP-protected) in order to `address` over `transport`
        (an asyncio datagram transport)."""
        sock = getattr(transport, "_sock", None)
        if not self.enabled or sock is None or transport.get_write_buffer_size():
            for packet in packets:
                transport.sendto(packet, address)
            self.calls += len(packets)
            return
        start = 0
        while start < len(packets):
            end = _group_end(packets, start)
            if end - start == 1:
                transport.sendto(packets[start], address)
            elif not self._send_segmented(sock, packets[start:end], address):
                for packet in packets[start:]:  # (the transport queues whatever the socket refuses)
                    transport.sendto(packet, address)
                self.calls += len(packets) - start
                return
            self.calls += 1
            start = end

    def _send_segmented(self, sock: socket.socket, group: list[bytes], address: tuple) -> bool:
        try:
            sock.sendmsg([b"".join(group)], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", len(group[0])))], 0, address)
            return True
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO):
                self.enabled = False  # no GSO here: a sendto each from now on
                return False
            raise


def _group_end(packets: list[bytes], start: int) -> int:
    """End (exclusive) of the run from `start` that one GSO send can carry: packets of the
    first one's size, then at most one shorter packet that closes the run."""
    size = len(packets[start])
    end, total = start + 1, size
    while end < len(packets) and end - start < MAX_SEGMENTS and total + len(packets[end]) <= MAX_BYTES:
        length = len(packets[end])
        if length > size:
            break
        end += 1
        total += length
        if length < size:
            break
    return end
