# Copyright (c) mmgcp contributors. All rights reserved.
"""The 15 ImageNet-C / COCO-C corruptions of ``imagecorruptions``, deterministic per seed.

``imagecorruptions`` draws from NumPy's global random stream; :func:`corrupt_image` seeds that
stream from (seed, image key, corruption, severity) for the call and restores it afterwards, so
the same image is corrupted the same way in every run, process and dataloader worker, and the
caller's random state is untouched.

Three of the package's corruptions are re-implemented here with the package's formulas and
constants (Hendrycks & Dietterich, ICLR 2019; imagecorruptions 1.1.2), because with the pinned
libraries ``glass_blur`` fails (it calls ``skimage.filters.gaussian(multichannel=True)``; the
argument is ``channel_axis`` since scikit-image 0.19 and was removed later), ``fog`` fails (it uses
``np.float_``, removed in NumPy 2) and ``impulse_noise`` ignores the seed (scikit-image's
``random_noise`` draws from a fresh ``default_rng()`` unless given ``rng``).
"""
import hashlib
import warnings
from typing import Callable, Dict, Optional, Sequence, Union

import numpy as np

#: The 15 standard corruptions of ImageNet-C / COCO-C, in the usual order (noise, blur, weather,
#: digital).
CORRUPTIONS = ('gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur',
               'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast',
               'elastic_transform', 'pixelate', 'jpeg_compression')
#: Severities; 0 means clean (the image is returned as it is).
SEVERITIES = (0, 1, 2, 3, 4, 5)
#: imagecorruptions refuses smaller images.
MIN_SIDE = 32


def _plasma_fractal(mapsize: int = 256, wibbledecay: float = 3) -> np.ndarray:
    """Diamond-square height map of shape (mapsize, mapsize) in [0, 1] (``mapsize`` a power of
    two); imagecorruptions' ``plasma_fractal`` with ``np.float64`` for the removed ``np.float_``."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100

    def wibbledmean(array):
        return array / 4 + wibble * np.random.uniform(-wibble, wibble, array.shape)

    def fillsquares():
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize,
                 stepsize // 2:mapsize:stepsize] = wibbledmean(squareaccum)

    def filldiamonds():
        drgrid = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ltsum = drgrid + np.roll(drgrid, 1, axis=0) + ulgrid + np.roll(ulgrid, -1, axis=1)
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(ltsum)
        ttsum = drgrid + np.roll(drgrid, 1, axis=1) + ulgrid + np.roll(ulgrid, -1, axis=0)
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)

    while stepsize >= 2:
        fillsquares()
        filldiamonds()
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def fog(x, severity: int = 1) -> np.ndarray:
    """imagecorruptions' ``fog`` (float RGB image in [0, 255] of the input's shape)."""
    c = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)][severity - 1]
    x = np.array(x) / 255.
    height, width = x.shape[:2]
    map_size = 2**int(np.ceil(np.log2(max(height, width))))
    max_val = x.max()
    x += c[0] * _plasma_fractal(mapsize=map_size, wibbledecay=c[1])[:height, :width, np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def _glass_shuffle_reference(x: np.ndarray, max_delta: int, iterations: int) -> np.ndarray:
    """The reference pixel loop, verbatim (kept for the equivalence test)."""
    height, width = x.shape[:2]
    for _ in range(iterations):
        for h in range(height - max_delta, max_delta, -1):
            for w in range(width - max_delta, max_delta, -1):
                dx, dy = np.random.randint(-max_delta, max_delta, size=(2, ))
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return x


def _glass_shuffle(x: np.ndarray, max_delta: int, iterations: int) -> np.ndarray:
    """:func:`_glass_shuffle_reference`, 10x faster with the same output and random draws.

    In the reference, ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` swaps numpy views: it copies
    pixel (h', w') to (h, w) and leaves (h', w') as it is. The copies stay sequential (later ones
    read earlier ones); the offsets are drawn in one call, which gives the same stream.
    """
    height, width = x.shape[:2]
    rows = x.tolist()  # pixels as lists, rebound (never mutated), so sharing them is safe
    hs = range(height - max_delta, max_delta, -1)
    ws = range(width - max_delta, max_delta, -1)
    for _ in range(iterations):
        offsets = np.random.randint(-max_delta, max_delta, size=(len(hs) * len(ws), 2)).tolist()
        i = 0
        for h in hs:
            row = rows[h]
            for w in ws:
                dx, dy = offsets[i]
                i += 1
                row[w] = rows[h + dy][w + dx]
    return np.array(rows, dtype=x.dtype).reshape(x.shape)


def glass_blur(x, severity: int = 1) -> np.ndarray:
    """imagecorruptions' ``glass_blur`` with ``channel_axis`` for the removed ``multichannel``."""
    from skimage.filters import gaussian

    # sigma, max_delta, iterations
    c = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    x = np.uint8(gaussian(np.array(x) / 255., sigma=c[0], channel_axis=-1) * 255)
    x = _glass_shuffle(x, c[1], c[2])
    return np.clip(gaussian(x / 255., sigma=c[0], channel_axis=-1), 0, 1) * 255


def impulse_noise(x, severity: int = 1) -> np.ndarray:
    """imagecorruptions' ``impulse_noise``, seeded: scikit-image >= 0.19 draws from a fresh
    ``default_rng()`` unless given ``rng``, which ignores NumPy's seeded global stream."""
    from skimage.util import random_noise

    c = [.03, .06, .09, 0.17, 0.27][severity - 1]
    x = random_noise(np.array(x) / 255., mode='s&p', amount=c,
                     rng=int(np.random.randint(0, 2**31 - 1)))
    return np.clip(x, 0, 1) * 255


_FIXED: Dict[str, Callable] = dict(fog=fog, glass_blur=glass_blur, impulse_noise=impulse_noise)


def _corruption_fn(name: str) -> Callable:
    if name in _FIXED:
        return _FIXED[name]
    with warnings.catch_warnings():
        # the package imports pkg_resources and scipy.ndimage.interpolation (both deprecated)
        warnings.simplefilter('ignore')
        from imagecorruptions import corruption_dict
    return corruption_dict[name]


def check_corruption(corruption: str, severity: int) -> None:
    """Raise a ValueError naming the valid choices if ``corruption`` or ``severity`` is unknown."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f'unknown corruption {corruption!r}; choose from {list(CORRUPTIONS)}.')
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise ValueError(f'severity must be an int in {list(SEVERITIES)} (0 = clean), got '
                         f'{severity!r}.')


def check_conditions(corruptions: Sequence[str], severities: Sequence[int]) -> None:
    """Raise a ValueError naming the bad corruption or severity, before any work starts."""
    if not corruptions or not severities:
        raise ValueError(f'give at least one corruption and one severity, got corruptions='
                         f'{list(corruptions)} and severities={list(severities)}.')
    for corruption in corruptions:
        check_corruption(corruption, 1)
    for severity in severities:
        check_corruption(corruptions[0], severity)


def corruption_seed(seed: int, key: Union[str, int], corruption: str, severity: int) -> int:
    """A 32-bit seed derived from (seed, image key, corruption, severity), stable across runs,
    processes and machines (unlike Python's salted ``hash``)."""
    text = f'{seed}|{key}|{corruption}|{severity}'.encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], 'little')


def corrupt_image(img: np.ndarray, corruption: str, severity: int, seed: int = 0,
                  key: Optional[Union[str, int]] = None, channel_order: str = 'bgr') -> np.ndarray:
    """Apply one corruption at one severity to an image, deterministically.

    Args:
        img (np.ndarray): Image of shape (H, W, 3) or (H, W), H and W >= 32, uint8 (other dtypes
            are clipped to [0, 255], corrupted as uint8 and cast back).
        corruption (str): One of :data:`CORRUPTIONS`.
        severity (int): 0 (clean: ``img`` is returned as it is) to 5.
        seed (int): Base seed. Defaults to 0.
        key (str | int, optional): What identifies the image (its path or index); with ``seed``,
            ``corruption`` and ``severity`` it fixes the random draws. Defaults to a digest of the
            image content.
        channel_order (str): ``'bgr'`` (OpenCV / mmcv loading, the default) or ``'rgb'``. The
            corruptions are defined on RGB (fog, frost, snow and brightness are colour-dependent).

    Returns:
        np.ndarray: The corrupted image, same shape and dtype as ``img``.
    """
    check_corruption(corruption, severity)
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}.")
    if severity == 0:
        return img
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f'expected an image of shape (H, W, 3) or (H, W), got {img.shape}.')
    if min(img.shape[:2]) < MIN_SIDE:
        raise ValueError(f'corruptions need images of at least {MIN_SIDE}x{MIN_SIDE} px, got '
                         f'{img.shape[:2]}; insert the corruption after a resize instead.')
    from PIL import Image

    if key is None:
        key = hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    elif channel_order == 'bgr':
        rgb = rgb[..., ::-1]
    state = np.random.get_state()
    np.random.seed(corruption_seed(seed, key, corruption, severity))
    try:
        out = np.uint8(_corruption_fn(corruption)(Image.fromarray(np.ascontiguousarray(rgb)),
                                                  severity))
    finally:
        np.random.set_state(state)
    if img.ndim == 2:
        out = np.round(out.astype(np.float32) @ np.array([0.299, 0.587, 0.114],
                                                          np.float32)).astype(np.uint8)
    elif channel_order == 'bgr':
        out = out[..., ::-1]
    return np.ascontiguousarray(out).astype(img.dtype, copy=False)
