"""Deterministic drawings for the ``mini`` data set: slides, charts, scans, comic panels, scenery, film stills.

Each image is described by a small JSON spec (``{"kind": "slide", "title": ..., "bullets": [...]}``) and
drawn with Pillow only: fixed sizes and colours, variation from a seeded ``random.Random``, PNG written
without metadata — so the same spec gives the same bytes on every build with the same Pillow.
Text is ASCII because Pillow's built-in font has no CJK glyphs.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

SIZE = (320, 240)
Spec = dict[str, Any]


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def _slide(spec: Spec, rng: random.Random) -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", SIZE, (250, 250, 246))
    draw = ImageDraw.Draw(img)
    accent = tuple(spec.get("accent", (32, 84, 160)))
    draw.rectangle((0, 0, SIZE[0], 44), fill=accent)
    draw.text((12, 12), spec["title"], fill=(255, 255, 255), font=_font(18))
    y = 60
    for bullet in spec.get("bullets", []):
        draw.ellipse((16, y + 5, 24, y + 13), fill=accent)
        draw.text((32, y), bullet, fill=(30, 30, 30), font=_font(13))
        y += 30
    draw.text((SIZE[0] - 40, SIZE[1] - 20), str(spec.get("page", "")), fill=(120, 120, 120), font=_font(11))
    return img


def _chart(spec: Spec, rng: random.Random) -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((12, 8), spec["title"], fill=(20, 20, 20), font=_font(15))
    values: list[float] = spec["values"]
    labels: list[str] = spec.get("labels", [str(i + 1) for i in range(len(values))])
    left, top, right, bottom = 40, 40, SIZE[0] - 16, SIZE[1] - 30
    draw.line((left, top, left, bottom), fill=(0, 0, 0), width=2)
    draw.line((left, bottom, right, bottom), fill=(0, 0, 0), width=2)
    peak = max(values) or 1
    step = (right - left) / len(values)
    points = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        x0 = left + i * step + step * 0.2
        x1 = left + (i + 1) * step - step * 0.2
        y = bottom - (bottom - top) * value / peak
        if spec.get("type", "bar") == "bar":
            draw.rectangle((x0, y, x1, bottom), fill=(60 + 30 * i % 180, 120, 200))
        points.append(((x0 + x1) / 2, y))
        draw.text((x0, bottom + 6), label, fill=(40, 40, 40), font=_font(11))
    if spec.get("type") == "line":
        draw.line(points, fill=(200, 60, 40), width=3)
        for x, y in points:
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(200, 60, 40))
    return img


def _scan(spec: Spec, rng: random.Random) -> Any:
    """A grey-scale, x-ray-like picture: dark field, bright bones (ribs, spine or long bones)."""
    from PIL import Image, ImageDraw, ImageFilter

    img = Image.new("L", SIZE, 12)
    draw = ImageDraw.Draw(img)
    body = spec.get("body", "chest")
    cx = SIZE[0] // 2
    if body == "chest":
        draw.ellipse((50, 20, SIZE[0] - 50, SIZE[1] + 40), fill=55)
        draw.rectangle((cx - 9, 10, cx + 9, SIZE[1]), fill=200)
        for i in range(8):
            y = 40 + i * 22
            width = 110 - abs(3.5 - i) * 8
            draw.arc((cx - width, y - 15, cx - 6, y + 25), 180, 300, fill=215, width=5)
            draw.arc((cx + 6, y - 15, cx + width, y + 25), 240, 360, fill=215, width=5)
        if spec.get("finding"):
            x, y = rng.randint(90, 130), rng.randint(90, 150)
            draw.ellipse((x, y, x + 34, y + 26), fill=150)
    else:  # a long bone, optionally with a fracture line
        draw.rounded_rectangle((cx - 60, 0, cx + 60, SIZE[1]), radius=40, fill=60)
        draw.rounded_rectangle((cx - 22, 10, cx + 22, SIZE[1] - 10), radius=18, fill=210)
        if spec.get("finding"):
            y = rng.randint(80, 160)
            draw.line((cx - 24, y, cx + 24, y + 12), fill=40, width=4)
    draw.text((8, 8), spec.get("label", "R"), fill=255, font=_font(16))
    return img.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")


def _comic(spec: Spec, rng: random.Random) -> Any:
    """Comic panels side by side, each with a stick figure, a prop and a speech bubble."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    bubbles: list[str] = spec.get("bubbles", ["..."])
    n = len(bubbles)
    width = (SIZE[0] - 8) / n
    palette = [(255, 236, 179), (200, 230, 255), (220, 255, 210), (255, 210, 220)]
    for i, text in enumerate(bubbles):
        x0, x1 = 4 + i * width, 4 + (i + 1) * width - 4
        draw.rectangle(
            (x0, 4, x1, SIZE[1] - 4), fill=palette[(i + spec.get("seed", 0)) % 4], outline=(0, 0, 0), width=3
        )
        fx = (x0 + x1) / 2 + rng.randint(-10, 10)
        draw.ellipse((fx - 12, 120, fx + 12, 144), outline=(0, 0, 0), width=2)
        draw.line((fx, 144, fx, 190), fill=(0, 0, 0), width=2)
        draw.line((fx - 18, 160 + rng.randint(-8, 8), fx + 18, 160 + rng.randint(-8, 8)), fill=(0, 0, 0), width=2)
        draw.line((fx, 190, fx - 14, 222), fill=(0, 0, 0), width=2)
        draw.line((fx, 190, fx + 14, 222), fill=(0, 0, 0), width=2)
        draw.ellipse((x0 + 6, 12, x1 - 6, 70), fill=(255, 255, 255), outline=(0, 0, 0), width=2)
        draw.polygon([(fx - 6, 68), (fx + 4, 68), (fx, 112)], fill=(255, 255, 255), outline=(0, 0, 0))
        draw.text((x0 + 14, 32), text[:14], fill=(0, 0, 0), font=_font(11))
    return img


def _scenery(spec: Spec, rng: random.Random) -> Any:
    """Sky gradient, sun, layered mountains and water with a reflection."""
    from PIL import Image, ImageDraw

    skies = {
        "day": ((90, 160, 235), (200, 230, 255)),
        "sunset": ((250, 120, 60), (255, 210, 120)),
        "dusk": ((40, 40, 100), (200, 110, 140)),
    }
    top, bottom = skies[spec.get("palette", "day")]
    img = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(img)
    horizon = 150
    for y in range(horizon):
        t = y / horizon
        draw.line((0, y, SIZE[0], y), fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    sx, sy = rng.randint(60, 260), rng.randint(30, 80)
    draw.ellipse((sx - 20, sy - 20, sx + 20, sy + 20), fill=(255, 240, 170))
    for layer, shade in enumerate(((70, 90, 110), (50, 80, 70), (35, 60, 45))):
        points = [(0, horizon)]
        x = 0
        while x < SIZE[0]:
            x += rng.randint(30, 70)
            points.append((min(x, SIZE[0]), horizon - rng.randint(20, 90 - layer * 20)))
        points.append((SIZE[0], horizon))
        draw.polygon(points, fill=shade)
    for y in range(horizon, SIZE[1]):
        t = (y - horizon) / (SIZE[1] - horizon)
        draw.line((0, y, SIZE[0], y), fill=(round(30 + 40 * t), round(70 + 50 * t), round(120 + 40 * t)))
    for i in range(6):
        draw.line(
            (sx - 18 + i * 3, horizon + 8 + i * 12, sx + 18 - i * 3, horizon + 8 + i * 12),
            fill=(255, 230, 160),
            width=2,
        )
    return img


def _still(spec: Spec, rng: random.Random) -> Any:
    """A dark, letterboxed film frame: a lit window or street lamp, silhouettes, a subtitle line."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", SIZE, (0, 0, 0))
    draw = ImageDraw.Draw(img)
    bar = 30
    tint = tuple(spec.get("tint", (40, 50, 70)))
    for y in range(bar, SIZE[1] - bar):
        t = (y - bar) / (SIZE[1] - 2 * bar)
        draw.line((0, y, SIZE[0], y), fill=tuple(round(c * (1.2 - 0.8 * t)) for c in tint))
    lx = rng.randint(40, 280)
    draw.polygon(
        [(lx - 6, 50), (lx + 6, 50), (lx + 60, SIZE[1] - bar), (lx - 60, SIZE[1] - bar)],
        fill=tuple(min(255, c + 60) for c in tint),
    )
    draw.rectangle((lx - 3, 40, lx + 3, 52), fill=(255, 230, 150))
    for _ in range(spec.get("figures", 2)):
        fx = rng.randint(30, 290)
        draw.ellipse((fx - 10, 110, fx + 10, 130), fill=(8, 8, 10))
        draw.rectangle((fx - 14, 130, fx + 14, SIZE[1] - bar), fill=(8, 8, 10))
    if spec.get("subtitle"):
        draw.text((20, SIZE[1] - bar - 22), spec["subtitle"], fill=(240, 240, 200), font=_font(13))
    return img


DRAWERS: dict[str, Callable[[Spec, random.Random], Any]] = {
    "slide": _slide,
    "chart": _chart,
    "scan": _scan,
    "comic": _comic,
    "scenery": _scenery,
    "still": _still,
}


def draw_png(spec: Spec) -> bytes:
    """PNG bytes of one spec; same spec, same bytes (seeded RNG, no timestamps or text chunks)."""
    rng = random.Random(spec.get("seed", 0))
    img = DRAWERS[spec["kind"]](spec, rng)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
