"""Pictures for the picture-health tests: a polling station drawn with OpenCV (walls, a floor
with grain, posters with text, tables and ballot boxes), and what can happen to it (a person
walking through, lights, a turned or defocused camera, something at the lens), passed through a
real H.264 encode and decode like a camera's keyframe."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np

from ingest.picture.keyframe_tiles import JPEG_QUALITY, TILE_WIDTH

WIDTH, HEIGHT = 1280, 720


def polling_station(seed: int = 7, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    wall = np.stack([150 + 40 * rows, 160 + 30 * rows, np.full_like(rows, 170)], axis=-1) * np.ones((1, width, 1), np.float32)
    image = wall
    image[int(height * 0.6):] = (90, 100, 110)
    image = np.clip(image + rng.normal(0, 8, (height, width, 1)), 0, 255).astype(np.uint8)
    for _ in range(6):  # posters
        x, y = int(rng.integers(0, width - 250)), int(rng.integers(20, int(height * 0.45)))
        w, h = int(rng.integers(120, 250)), int(rng.integers(80, 180))
        cv2.rectangle(image, (x, y), (x + w, y + h), tuple(int(c) for c in rng.integers(30, 230, 3)), -1)
        for line in range(3):
            cv2.putText(image, "PEMILU 2024", (x + 8, y + 25 + line * 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2)
    for i in range(4):  # tables with a ballot box each
        x, y = int(80 + i * width / 4), int(height * 0.62)
        cv2.rectangle(image, (x, y), (x + width // 6, y + 40), (60, 80, 120), -1)
        cv2.rectangle(image, (x + 10, y + 40), (x + 20, y + 160), (40, 50, 70), -1)
        cv2.rectangle(image, (x + width // 6 - 20, y + 40), (x + width // 6 - 10, y + 160), (40, 50, 70), -1)
        cv2.rectangle(image, (x + 40, y - 90), (x + 120, y), (230, 230, 230), -1)
        cv2.rectangle(image, (x + 40, y - 90), (x + 120, y), (20, 20, 20), 2)
    return image


def with_person(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """A person (body and head) of about a tenth of the picture, standing at (x, y)."""
    image = image.copy()
    height, width = image.shape[:2]
    cv2.ellipse(image, (x, y), (int(width * 0.07), int(height * 0.3)), 0, 0, 360, (40, 70, 160), -1)
    cv2.circle(image, (x, y - int(height * 0.36)), int(height * 0.07), (120, 150, 190), -1)
    return image


def lit(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def turned(image: np.ndarray, share: float) -> np.ndarray:
    """The camera panned by `share` of the picture's width (what leaves on one side comes in on
    the other: the same room, another view of it)."""
    return np.roll(image, int(image.shape[1] * share), axis=1)


def a_wall(image: np.ndarray) -> np.ndarray:
    """The camera turned to face a bare wall with a door frame at one side."""
    wall = np.full_like(image, (150, 165, 175))
    height, width = image.shape[:2]
    cv2.rectangle(wall, (int(width * 0.77), height // 6), (int(width * 0.92), height - 20), (60, 80, 110), 12)
    return wall


def defocused(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def with_box(image: np.ndarray, right: float, bottom: float, colour=(40, 40, 200)) -> np.ndarray:
    """A solid object over the top-left `right` x `bottom` of the picture (a flag held up)."""
    image = image.copy()
    height, width = image.shape[:2]
    cv2.rectangle(image, (0, 0), (int(width * right), int(height * bottom)), colour, -1)
    return image


def hand_at_the_lens(image: np.ndarray) -> np.ndarray:
    """A hand so close that it is a soft blob over most of the left of the picture."""
    blob = image.copy()
    cv2.ellipse(blob, (300, 400), (500, 420), 0, 0, 360, (60, 90, 130), -1)
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.ellipse(mask, (300, 400), (500, 420), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 25)[..., None]
    return (cv2.GaussianBlur(blob, (0, 0), 25) * mask + image * (1 - mask)).astype(np.uint8)


def covered(image: np.ndarray, level: int = 10) -> np.ndarray:
    return np.full_like(image, level)


def with_clock(image: np.ndarray, seconds: int = 0) -> np.ndarray:
    """The camera's own overlay, drawn after the lens: it stays sharp and in place whatever
    happens in front of the camera."""
    image = image.copy()
    cv2.putText(image, f"2024-02-14 13:05:{seconds % 60:02d}  TPS 007", (30, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2,
                (255, 255, 255), 3)
    return image


def with_grain(image: np.ndarray, seed: int, sigma: float = 3.0) -> np.ndarray:
    """Sensor noise, different in every frame."""
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def as_keyframe(image: np.ndarray, qp: int = 28) -> np.ndarray:
    """`image` as a camera sends it: H.264 (libx264, an IDR), decoded again, BGR."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "qp": str(qp)}
    frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    frame.pts = 0
    packets = [*encoder.encode(frame), *encoder.encode(None)]
    decoder = av.CodecContext.create("h264", "r")
    frames = [decoded for packet in packets for decoded in decoder.decode(packet)] + list(decoder.decode(None))
    return frames[0].to_ndarray(format="bgr24")


def as_tile_jpeg(image: np.ndarray) -> bytes:
    """The JPEG tile ingest makes of a keyframe (ingest/picture/keyframe_tiles.py)."""
    height = round(image.shape[0] * TILE_WIDTH / image.shape[1] / 2) * 2
    small = cv2.resize(image, (TILE_WIDTH, height), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
