"""Demo video: real H.264 that decodes cleanly, and a clock spliced in by re-encoding only the IDR.

Every check decodes with FFmpeg's H.264 decoder (PyAV) in its strictest mode, so a bitstream
error raises instead of being concealed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from ingest.h264 import NAL_IDR, NAL_PPS, NAL_SPS, nal_type
from ingest.h264 import split_annexb as split_nals
from ingest.sources.demo_video import DemoVideo
from pantau.cameras.demo_set import demo_cameras
from pantau.cameras.regions import dki_regions

NAL_SLICE = 1
T1 = datetime(2024, 2, 14, 6, 30, 15, tzinfo=UTC)  # 13:30:15 WIB
T2 = T1 + timedelta(hours=2, minutes=7, seconds=44)


@pytest.fixture(scope="module")
def video() -> DemoVideo:
    return DemoVideo("Rekap Kecamatan Tanah Abang", "31.71.06")


def decode(packets: list[bytes]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    decoder.options = {"err_detect": "crccheck+bitstream+buffer+explode"}  # raise, don't conceal
    frames: list[av.VideoFrame] = []
    for pts, data in enumerate(packets):
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        frames += decoder.decode(packet)
    frames += decoder.decode(None)
    return frames


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Y, U and V of a decoded frame as int16 arrays (chroma is half size in both directions)."""
    w, h = frame.width, frame.height
    flat = frame.to_ndarray(format="yuv420p").ravel().astype(np.int16)
    cw, ch = w // 2, h // 2
    return [flat[: w * h].reshape(h, w), flat[w * h: w * h + cw * ch].reshape(ch, cw), flat[w * h + cw * ch:].reshape(ch, cw)]


def split_box(frame: av.VideoFrame, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(pixels inside the clock box, pixels outside it), all three planes concatenated."""
    x0, y0 = box[0], box[1]
    inside, outside = [], []
    for i, plane in enumerate(planes(frame)):
        s = 1 if i == 0 else 2
        mask = np.zeros(plane.shape, bool)
        mask[y0 // s:, x0 // s:] = True
        inside.append(plane[mask])
        outside.append(plane[~mask])
    return np.concatenate(inside), np.concatenate(outside)


def read_ue(bits: str, pos: int) -> tuple[int, int]:
    """One unsigned Exp-Golomb value from a bit string; returns (value, next position)."""
    zeros = 0
    while bits[pos + zeros] == "0":
        zeros += 1
    value = int(bits[pos + zeros: pos + 2 * zeros + 1], 2) - 1
    return value, pos + 2 * zeros + 1


def slice_type(nal: bytes) -> int:
    """slice_type % 5 of a slice NAL: 0 P, 1 B, 2 I."""
    rbsp = nal[1:24].replace(b"\x00\x00\x03", b"\x00\x00")  # drop emulation prevention bytes
    bits = "".join(f"{byte:08b}" for byte in rbsp)
    _, pos = read_ue(bits, 0)  # first_mb_in_slice
    return read_ue(bits, pos)[0] % 5


def test_clock_text_is_wib() -> None:
    assert DemoVideo.clock_text(T1) == "13:30:15 WIB"
    assert DemoVideo.clock_text(datetime(2024, 2, 14, 23, 59, 59, tzinfo=UTC)) == "06:59:59 WIB"


def test_cycles_decode_back_to_back_without_errors(video: DemoVideo) -> None:
    cycles = [video.cycle(T1 + timedelta(seconds=2 * k)) for k in range(3)]
    frames = decode([p.data for c in cycles for p in c])
    assert len(frames) == 3 * video.frame_count
    assert {(f.width, f.height) for f in frames} == {(480, 270)}
    types = [PictureType(f.pict_type).name for f in frames]
    assert types == (["I"] + ["P"] * (video.frame_count - 1)) * 3
    # A viewer joining at any cycle can start there.
    assert len(decode([p.data for p in cycles[2]])) == video.frame_count


def test_keyframes_carry_sps_pps_and_are_constrained_baseline(video: DemoVideo) -> None:
    for now in (T1, T2):
        packets = video.cycle(now)
        assert [p.index for p in packets] == list(range(video.frame_count))
        assert [p.keyframe for p in packets] == [True] + [False] * (video.frame_count - 1)
        first = split_nals(packets[0].data)
        assert [nal_type(n) for n in first] == [NAL_SPS, NAL_PPS, NAL_IDR]
        assert packets[0].data.startswith(video.extradata)
        assert packets[0].data.startswith(b"\x00\x00\x00\x01")  # Annex-B
        for p in packets[1:]:
            assert [nal_type(n) for n in split_nals(p.data)] == [NAL_SLICE]
    sps = split_nals(video.extradata)[0]
    profile_idc, constraints = sps[1], sps[2]
    assert profile_idc == 66 and constraints & 0x40  # baseline with constraint_set1: constrained baseline


def test_no_b_frames(video: DemoVideo) -> None:
    packets = video.cycle(T1)
    types = [slice_type(n) for p in packets for n in split_nals(p.data) if nal_type(n) in (NAL_SLICE, NAL_IDR)]
    assert types == [2] + [0] * (video.frame_count - 1)  # I then P only
    frames = decode([p.data for p in packets])
    assert [f.pts for f in frames] == list(range(video.frame_count))  # output order is decode order


@pytest.mark.parametrize("size", [(480, 270), (640, 360)])
def test_clock_changes_and_the_rest_is_identical(size: tuple[int, int]) -> None:
    video = DemoVideo("TPS 002 Kebon Kacang", "31.71.06.1002", width=size[0], height=size[1])
    a = decode([p.data for p in video.cycle(T1)])
    b = decode([p.data for p in video.cycle(T2)])
    assert len(a) == len(b) == video.frame_count
    a_box0, _ = split_box(a[0], video.clock_box)
    b_box0, _ = split_box(b[0], video.clock_box)
    assert np.abs(a_box0 - b_box0).max() > 100  # the digits differ
    for fa, fb in zip(a, b):
        a_box, a_out = split_box(fa, video.clock_box)
        b_box, b_out = split_box(fb, video.clock_box)
        # Outside the box both replays are the same picture, pixel for pixel...
        assert np.array_equal(a_out, b_out)
        # ...and inside it every frame shows its cycle's clock exactly as the IDR drew it.
        assert np.array_equal(a_box, a_box0)
        assert np.array_equal(b_box, b_box0)


def test_splice_matches_the_loop_as_encoded(video: DemoVideo) -> None:
    loop = video._encode_loop()  # the original: empty clock panel, encoded by a fresh encoder
    # The shared, reused keyframe encoder codes the same picture as the loop's own IDR (twice,
    # as x264 alternates idr_pic_id between IDRs).
    for _ in range(2):
        assert np.array_equal(planes(decode([video._keyframe(None)])[0])[0], planes(decode(loop[:1])[0])[0])
    original = decode(loop)
    spliced = decode([p.data for p in video.cycle(T2)])
    x0, y0 = video.clock_box[:2]
    for fo, fs in zip(original, spliced, strict=True):
        assert np.array_equal(split_box(fo, video.clock_box)[1], split_box(fs, video.clock_box)[1])
        o_box, s_box = planes(fo)[0][y0:, x0:], planes(fs)[0][y0:, x0:]
        assert o_box.max() - o_box.min() <= 2  # the loop's own panel is flat...
        assert s_box.max() - s_box.min() > 100  # ...the spliced one has digits


def test_title_region_differs_between_cameras() -> None:
    cameras = demo_cameras(dki_regions())
    first = [decode([p.data for p in DemoVideo(c.name, c.region).cycle(T1)])[0] for c in cameras[:2]]
    assert cameras[0].name != cameras[1].name
    title_band = [planes(f)[0][8:56, 8:400] for f in first]
    assert np.abs(title_band[0] - title_band[1]).mean() > 5
    # Text aside, the tiles have different background colours (derived from the title).
    backgrounds = [[int(np.median(p)) for p in planes(f)] for f in first]
    assert backgrounds[0] != backgrounds[1]


def test_loop_is_seamless_and_moves(video: DemoVideo) -> None:
    assert np.array_equal(video.picture(video.frame_count, None), video.picture(0, None))
    assert not np.array_equal(video.picture(video.frame_count // 2, None), video.picture(0, None))


def test_cycle_is_thread_safe(video: DemoVideo) -> None:
    serial = video.cycle(T2)
    expected = [planes(f) for f in decode([p.data for p in serial])]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: video.cycle(T2), range(8)))
    for packets in results:
        assert packets[1:] == serial[1:]  # stored P-frames; the IDR's bytes differ in idr_pic_id only
        got = [planes(f) for f in decode([p.data for p in packets])]
        assert all(np.array_equal(a, b) for fa, fb in zip(got, expected, strict=True) for a, b in zip(fa, fb))


def test_memory_and_bitrate_are_small(video: DemoVideo) -> None:
    assert video.loop_bytes < 8_000
    packets = video.cycle(T1)
    kbit_per_s = sum(len(p.data) for p in packets) * 8 / (video.frame_count / video.fps) / 1000
    assert kbit_per_s < 100


def test_rejects_settings_the_splice_cannot_handle() -> None:
    with pytest.raises(ValueError):
        DemoVideo("x", "y", width=481)
    with pytest.raises(ValueError):
        DemoVideo("x", "y", fps=10, loop_s=0.15)
    with pytest.raises(ValueError):
        DemoVideo("x", "y", fps=10, loop_s=0.1)  # one frame: back-to-back IDRs


def test_every_demo_camera_splices_exactly() -> None:
    """The whole demo set (~5 s): any encoder or layout change that lets the splice drift shows
    up on some camera (with x264's deblocking filter on, 4 of 176 drift by 2 levels)."""
    for camera in demo_cameras(dki_regions()):
        video = DemoVideo(camera.name, camera.region)
        a = decode([p.data for p in video.cycle(T1)])
        b = decode([p.data for p in video.cycle(T2)])
        a_box0, b_box0 = split_box(a[0], video.clock_box)[0], split_box(b[0], video.clock_box)[0]
        assert not np.array_equal(a_box0, b_box0), camera.name
        for fa, fb in zip(a, b, strict=True):
            (a_box, a_out), (b_box, b_out) = split_box(fa, video.clock_box), split_box(fb, video.clock_box)
            assert np.array_equal(a_out, b_out), camera.name
            assert np.array_equal(a_box, a_box0) and np.array_equal(b_box, b_box0), camera.name
