"""The photometric augmentations: the worker path (per view, OpenCV on uint8) and ``data.augment_on=device``
(batched torch) draw the same distributions; draft-mode decoding; float conversion once per batch.

The distribution tests apply both paths many times to one real photo and compare per-image statistics (two-sample
Kolmogorov-Smirnov distance, or the rate of an event); each also runs the device path with one probability or range
changed and requires the same check to fail, so a wrong implementation cannot pass.
"""

from __future__ import annotations

import dataclasses
import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import ks_2samp

from training.config import DataConfig
from training.data import device_augment
from training.data.batch import device_views, step_generator
from training.data.device_augment import augment_views, view_probabilities
from training.data.photometric import augment_view
from training.data.transforms import MultiCrop, decode_for_views, draft_scale, random_crop_box

N = 1500
KS_LIMIT = 0.08  # the 0.1% critical distance for two samples of 1500 is 0.071
RATE_LIMIT = 0.04  # 4.4 standard errors of a difference of two rates near 0.5 over 1500 draws each
CONFIG = DataConfig(global_size=64, local_size=32, num_local=2)


SIDE = 48


def photo() -> np.ndarray:
    """scikit-image's astronaut, 48 x 48 uint8 RGB (asymmetric, colourful, with edges)."""
    import skimage.data

    return np.array(Image.fromarray(skimage.data.astronaut()).resize((SIDE, SIDE), Image.BICUBIC))


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """On a shared 2-core machine two intra-op threads made the batched ops several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def worker_samples(config: DataConfig, view_index: int, seed: int = 0) -> torch.Tensor:
    blur_p, solarize_p = view_probabilities(config, view_index)
    rng = random.Random(seed)
    pixels = photo()
    out = [augment_view(rng, pixels, flip_p=config.flip_p, color_jitter_p=config.color_jitter_p,
                        grayscale_p=config.grayscale_p, blur_p=blur_p, solarize_p=solarize_p) for _ in range(N)]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


def device_samples(config: DataConfig, view_index: int, seed: int = 1) -> torch.Tensor:
    images = torch.from_numpy(photo()).permute(2, 0, 1).float().div(255).expand(N, 3, SIDE, SIDE).contiguous()
    generator = torch.Generator().manual_seed(seed)
    out = augment_views(images, config, *view_probabilities(config, view_index), generator)
    return (out * 255).round() / 255  # the same 256 levels as the worker's uint8 pixels


def luma(images: torch.Tensor) -> torch.Tensor:
    return (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)


def mean_luma(images: torch.Tensor) -> np.ndarray:
    return luma(images).mean(dim=(1, 2)).numpy()


def luma_spread(images: torch.Tensor) -> np.ndarray:
    return luma(images).flatten(1).std(dim=1).numpy()


def colourfulness(images: torch.Tensor) -> np.ndarray:
    r, g, b = images.unbind(1)
    return ((r - g).abs() + (g - b).abs()).mean(dim=(1, 2)).numpy()


def red_minus_blue(images: torch.Tensor) -> np.ndarray:
    return (images[:, 0] - images[:, 2]).mean(dim=(1, 2)).numpy()


def sharpness(images: torch.Tensor) -> np.ndarray:
    y = luma(images)
    return (y[:, :, 1:] - y[:, :, :-1]).abs().mean(dim=(1, 2)).numpy()


def flipped(images: torch.Tensor) -> np.ndarray:
    """1 where the image correlates better with the mirrored photo than with the photo."""
    original = luma(torch.from_numpy(photo()).permute(2, 0, 1)[None].float() / 255)[0]
    y = luma(images).flatten(1)
    y = y - y.mean(1, keepdim=True)

    def corr(reference: torch.Tensor) -> torch.Tensor:
        r = reference.flatten() - reference.mean()
        return (y * r).sum(1) / (y.norm(dim=1) * r.norm() + 1e-8)

    return (corr(original.flip(-1)).abs() > corr(original).abs()).float().numpy()


def gray(images: torch.Tensor) -> np.ndarray:
    return ((images.max(1).values - images.min(1).values).amax(dim=(1, 2)) < 1.5 / 255).float().numpy()


def same_distribution(a: np.ndarray, b: np.ndarray, rate: bool) -> bool:
    if rate:
        return abs(a.mean() - b.mean()) < RATE_LIMIT
    return ks_2samp(a, b).statistic < KS_LIMIT


Statistic = Callable[[torch.Tensor], np.ndarray]
CASES = [  # statistic, is it a rate, view index, the device config that must be told apart
    (flipped, True, 0, {"flip_p": 0.35}),
    (gray, True, 0, {"grayscale_p": 0.1}),
    (mean_luma, False, 0, {"color_jitter_p": 0.5}),
    (luma_spread, False, 2, {"color_jitter_p": 0.5}),
    (colourfulness, False, 2, {"grayscale_p": 0.35}),
    (red_minus_blue, False, 0, {"color_jitter_p": 0.5}),
    (sharpness, False, 0, {"blur_p": (0.6, 0.1, 0.5)}),
    (sharpness, False, 2, {"blur_p": (1.0, 0.1, 0.25)}),
    (mean_luma, False, 1, {"solarize_p": 0.05}),
]


@pytest.fixture(scope="module")
def worker_views() -> dict[int, torch.Tensor]:
    return {index: worker_samples(CONFIG, index) for index in (0, 1, 2)}


@pytest.fixture(scope="module")
def device_views_by_index() -> dict[int, torch.Tensor]:
    return {index: device_samples(CONFIG, index) for index in (0, 1, 2)}


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("statistic", "rate", "view", "wrong"), CASES,
                         ids=[f"{c[0].__name__}-view{c[2]}" for c in CASES])
def test_device_augmentations_draw_the_worker_distributions(
    worker_views: dict[int, torch.Tensor], device_views_by_index: dict[int, torch.Tensor],
    statistic: Statistic, rate: bool, view: int, wrong: dict,
) -> None:
    on_worker = statistic(worker_views[view])
    assert same_distribution(on_worker, statistic(device_views_by_index[view]), rate)
    changed = statistic(device_samples(dataclasses.replace(CONFIG, **wrong), view))
    assert not same_distribution(on_worker, changed, rate), f"{statistic.__name__} cannot tell {wrong} apart"


def test_the_event_rates_match_the_configured_probabilities(worker_views: dict[int, torch.Tensor]) -> None:
    assert abs(flipped(worker_views[0]).mean() - CONFIG.flip_p) < RATE_LIMIT
    assert abs(gray(worker_views[0]).mean() - CONFIG.grayscale_p) < RATE_LIMIT


def test_device_hue_round_trip_and_blur_keep_an_image() -> None:
    images = torch.rand(4, 3, 16, 16)
    back = device_augment.hsv_to_rgb(device_augment.rgb_to_hsv(images))
    assert torch.allclose(back, images, atol=1e-5)
    assert torch.allclose(device_augment.adjust_hue(images, torch.ones(4)), images, atol=1e-5)  # a full turn
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(device_augment.gaussian_blur(flat, torch.tensor([0.5, 2.0])), flat, atol=1e-6)


def test_float_conversion_once_per_batch_equals_the_per_sample_views() -> None:
    image = Image.fromarray(photo())
    multicrop = MultiCrop(CONFIG)
    per_sample = [multicrop(random.Random(seed), image) for seed in range(3)]
    uint8 = [multicrop.uint8_views(random.Random(seed), image) for seed in range(3)]
    assert all(v.dtype == torch.uint8 for views in uint8 for v in views)
    batch = device_views([torch.stack(list(v)) for v in zip(*uint8)], CONFIG, torch.device("cpu"))
    for index, view in enumerate(batch):
        assert torch.allclose(view, torch.stack([sample[index] for sample in per_sample]), atol=1e-6)


def test_device_mode_leaves_the_photometric_work_to_the_batch_and_is_seeded_by_step() -> None:
    config = dataclasses.replace(CONFIG, augment_on="device")
    image = Image.fromarray(photo())
    views = MultiCrop(config).uint8_views(random.Random(0), image)
    plain = MultiCrop(dataclasses.replace(config, flip_p=0, color_jitter_p=0, grayscale_p=0, blur_p=(0, 0, 0),
                                          solarize_p=0, augment_on="worker")).uint8_views(random.Random(0), image)
    assert all(torch.equal(a, b) for a, b in zip(views, plain))  # crops only in the worker
    batch = [torch.stack([v] * 8) for v in views]
    cpu = torch.device("cpu")
    first = device_views(batch, config, cpu, step_generator(cpu, 0, 5, 0))
    again = device_views(batch, config, cpu, step_generator(cpu, 0, 5, 0))
    other = device_views(batch, config, cpu, step_generator(cpu, 0, 6, 0))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    with pytest.raises(ValueError, match="generator"):
        device_views(batch, config, cpu)


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_draft_scale_is_the_largest_that_keeps_every_view_a_downsampling() -> None:
    assert draft_scale([(0, 0, 200, 180), (0, 0, 100, 90)], [32, 16]) == 4  # 180 / 32 and 90 / 16 allow 4, not 8
    assert draft_scale([(0, 0, 200, 180), (0, 0, 30, 40)], [32, 16]) == 1  # a 30 px box for a 16 px view
    assert draft_scale([(0, 0, 64, 64)], [64]) == 1


def test_draft_decoding_gives_the_views_of_a_full_decode(tmp_path: Path) -> None:
    import skimage.data

    source = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((256, 256), Image.BICUBIC))
    data = jpeg(source)
    config = dataclasses.replace(CONFIG, global_size=32, local_size=16, local_scale=(0.3, 0.4),
                                 augment_on="device")  # crops only, so the pixels can be compared
    lazy = Image.open(io.BytesIO(data))
    boxes = [random_crop_box(random.Random(3), 256, 256, (0.4, 1.0)) for _ in range(2)]
    assert decode_for_views(lazy, boxes, [32, 32]).width < 256  # decoded in draft mode
    drafted = MultiCrop(config).uint8_views(random.Random(0), Image.open(io.BytesIO(data)))
    full = MultiCrop(config).uint8_views(random.Random(0), Image.open(io.BytesIO(data)).convert("RGB"))
    for a, b in zip(drafted, full):
        assert (a.float() - b.float()).abs().mean() < 4.0  # of 255: the same crop, slightly different resampling
