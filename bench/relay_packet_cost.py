"""What one RTP packet costs the shared fan-out's send path in this process, part by part:

    .venv/bin/python bench/relay_packet_cost.py     # a few seconds

header (pack marker/sequence/timestamp into the template and copy it before the payload), SRTP
protect with pylibsrtp (aiortc's profiles: AES-CM + HMAC-SHA1-80 and AES-128-GCM), and the
send of a frame's 10 packets to a loopback socket: a `sendto` each against one `sendmsg` with
UDP GSO (relay/webrtc/udp_batch.py); and all of it in one call of the compiled
relay.webrtc._fastsend (header + AES-128-GCM + one sendmmsg per 10-packet frame), if built. CPU time of this process (the kernel's loopback delivery
runs in it too), µs per packet, median of 5 rounds with the two sends alternating. The budget
these add up against is in the README (Benchmarks, bench/relay.py).
"""

from __future__ import annotations

import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

from pylibsrtp import Policy, Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from relay.webrtc import fastsend  # noqa: E402
from relay.webrtc.udp_batch import UdpBatchSender  # noqa: E402

PACKETS = 20_000
PAYLOAD = os.urandom(1200)


def per_packet_us(step, count: int = PACKETS) -> float:
    started = time.process_time()
    for index in range(count):
        step(index)
    return (time.process_time() - started) / count * 1e6


def header_and_protect(profile: int | None, key_length: int) -> float:
    header = bytearray(b"\x80\x60" + bytes(10))
    session = Session(Policy(key=os.urandom(key_length), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)) if profile else None

    def step(index: int) -> None:
        struct.pack_into("!HL", header, 2, index & 0xFFFF, index)
        packet = bytes(header) + PAYLOAD
        if session:
            session.protect(packet)

    return per_packet_us(step)


def loopback_pair() -> tuple[socket.socket, socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    receiver.setblocking(False)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    return receiver, sender


def drain(receiver: socket.socket) -> None:
    try:
        while True:
            receiver.recv(2048)
    except BlockingIOError:
        pass


def native_frames() -> float | None:
    """µs per packet of header + AES-128-GCM + sendmmsg in one extension call per 10-packet frame."""
    native = fastsend.load()
    if native is None:
        return None
    receiver, sender = loopback_pair()
    session = Session(Policy(key=os.urandom(28), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_128_GCM))
    viewers = native.ffi.new("struct fs_viewer[]", 1)
    native.fill_viewer(viewers + 0, sender, receiver.getsockname(), session, b"\x80\x60" + bytes(10), None, 96, 0, 0)
    scratch = native.ffi.new("unsigned char[]", native.slot_size * native.batch_size)
    payloads = [PAYLOAD] * 10
    data, lengths = b"".join(payloads), native.ffi.new("int[]", [len(p) for p in payloads])
    rounds = []
    for _ in range(5):
        spent = 0.0
        for frame in range(1000):
            started = time.process_time()
            native.lib.fs_send_frame(native.protect, viewers, 1, data, lengths, len(payloads), frame * 3600, 0, scratch)
            spent += time.process_time() - started
            drain(receiver)
        rounds.append(spent / (1000 * len(payloads)) * 1e6)
    native.release(viewers[0])
    return statistics.median(rounds)


def sends() -> tuple[float, float]:
    receiver, sender = loopback_pair()

    class Transport:  # what UdpBatchSender needs of asyncio's datagram transport
        _sock = sender

        def get_write_buffer_size(self) -> int:
            return 0

        def sendto(self, data: bytes, address) -> None:
            sender.sendto(data, address)

    frame = [os.urandom(1210)] * 10
    address = receiver.getsockname()
    results: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(5):
        for gso in ((True, False) if round_ % 2 else (False, True)):
            batch = UdpBatchSender(enabled=gso)
            spent = 0.0
            for _ in range(1000):
                started = time.process_time()
                batch.send(Transport(), frame, address)
                spent += time.process_time() - started
                drain(receiver)
            results[gso].append(spent / (1000 * len(frame)) * 1e6)
    return statistics.median(results[False]), statistics.median(results[True])


def main() -> None:
    print(f"header only: {header_and_protect(None, 0):.2f} µs per packet")
    print(f"header + SRTP AES-CM/HMAC-SHA1-80: {header_and_protect(Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30):.2f} µs per packet")
    print(f"header + SRTP AES-128-GCM: {header_and_protect(Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28):.2f} µs per packet")
    one_each, gso = sends()
    print(f"send, a sendto each: {one_each:.2f} µs per packet; with UDP GSO: {gso:.2f} µs per packet (10-packet frames, loopback)")
    native = native_frames()
    print("relay.webrtc._fastsend, header + AES-128-GCM + sendmmsg (one call per 10-packet frame, loopback): "
          + (f"{native:.2f} µs per packet" if native is not None else "not built"))


if __name__ == "__main__":
    main()
