"""The ``KEY.json`` member of a sample: where the crop came from and where the faces are in it.

All boxes are ``[x0, y0, x1, y1]`` and landmarks ``[[x, y] x 5]`` (left eye, right eye, nose, left mouth corner, right
mouth corner, as seen in the image) in crop pixel coordinates. ``faces[0]`` is the face the crop is centred on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

Box = tuple[float, float, float, float]
# Fields left out of the json when None, so samples without a caption or a video read as they always did.
OMITTED_WHEN_NONE = ("caption", "source_video", "source_frame", "source_time_s")
Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    box: Box
    landmarks: tuple[Point, ...]
    score: float


@dataclass(frozen=True)
class SampleMeta:
    """Everything a consumer needs to know about one face-centric crop."""

    key: str
    source_id: str
    source_path: str | None
    source_url: str | None
    original_size: tuple[int, int]  # (width, height) of the decoded source image
    crop_box: Box  # the crop's square in source pixel coordinates (may extend past the borders: padded)
    crop_size: int  # side of the square crop in pixels
    faces: tuple[Face, ...]
    face_area_ratio: float  # area of faces[0]'s box over the crop's area
    embedding_row: int | None = None
    curation: dict[str, Any] = field(default_factory=dict)  # e.g. {"reason": "seed"} or {"reason": "retrieved", ...}
    caption: str | None = None  # the source's caption (img2dataset .txt / .json, a parquet caption column)
    source_video: str | None = None  # a frame of a video: the video's source_id
    source_frame: int | None = None  # ... the frame's index among the frames sampled from it
    source_time_s: float | None = None  # ... and its time in seconds from the start of the video stream

    def to_json(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if v is not None or k not in OMITTED_WHEN_NONE}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "SampleMeta":
        raw = json.loads(data)
        faces = tuple(
            Face(tuple(f["box"]), tuple(tuple(p) for p in f["landmarks"]), float(f["score"])) for f in raw["faces"]
        )
        return cls(
            key=raw["key"],
            source_id=raw["source_id"],
            source_path=raw.get("source_path"),
            source_url=raw.get("source_url"),
            original_size=tuple(raw["original_size"]),
            crop_box=tuple(raw["crop_box"]),
            crop_size=int(raw["crop_size"]),
            faces=faces,
            face_area_ratio=float(raw["face_area_ratio"]),
            embedding_row=raw.get("embedding_row"),
            curation=raw.get("curation", {}),
            **{name: raw.get(name) for name in OMITTED_WHEN_NONE},
        )
