"""relay/webrtc/udp_batch.py on real loopback sockets: the receiver gets exactly the datagrams
sent, in order, with GSO and on the one-sendto-each path, in fewer system calls with GSO."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from relay.webrtc.udp_batch import MAX_SEGMENTS, UdpBatchSender, _group_end


def frame_like(sizes: list[int]) -> list[bytes]:
    return [os.urandom(n) for n in sizes]


# Like a frame: FU-A fragments (larger by a byte first), a short last one, a lone small packet.
SIZES = [1310, 1310, 1310, 1309, 1309, 1309, 1309, 700, 40, 1300, 1300]


@pytest.mark.parametrize("gso", [True, False])
async def test_every_datagram_arrives_in_order(gso):
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    receiver.settimeout(2)
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        batch = UdpBatchSender(enabled=gso)
        sent = []
        for _ in range(20):
            packets = frame_like(SIZES)
            batch.send(transport, packets, receiver.getsockname())
            sent += packets
        received = [receiver.recv(65536) for _ in sent]
        assert received == sent
        if gso:
            assert batch.enabled, "GSO was refused on this kernel"
            assert batch.calls <= 20 * 5  # 11 packets a frame in at most 5 calls
        else:
            assert batch.calls == len(sent)
    finally:
        transport.close()
        receiver.close()


def test_groups_are_one_size_then_at_most_one_shorter():
    packets = frame_like(SIZES)
    groups, start = [], 0
    while start < len(packets):
        end = _group_end(packets, start)
        groups.append([len(p) for p in packets[start:end]])
        start = end
    assert groups == [[1310, 1310, 1310, 1309], [1309, 1309, 1309, 700], [40], [1300, 1300]]
    many = frame_like([1000] * (MAX_SEGMENTS + 3))
    assert _group_end(many, 0) == MAX_SEGMENTS
