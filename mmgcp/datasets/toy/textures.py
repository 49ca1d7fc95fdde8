# Copyright (c) mmgcp contributors. All rights reserved.
"""Procedural textures shared by the toy dataset generators.

Everything here is numpy only and draws its randomness from a ``numpy.random.Generator`` passed in,
so a generator seeded the same way gives the same pixels.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

#: Texture types that :func:`render_texture` draws, in the order the toy datasets use them as
#: classes (class ``k`` of a toy set is ``TEXTURE_NAMES[k]``).
TEXTURE_NAMES = ('stripes', 'checker', 'dots', 'grain', 'waves', 'grid')


def _frequency_grid(size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical FFT frequencies (cycles per pixel) of an image of ``size``."""
    height, width = size
    freq_y = np.fft.fftfreq(height)[:, None]
    freq_x = np.fft.fftfreq(width)[None, :]
    return freq_x, freq_y


def _standardize(field: np.ndarray, axis: Optional[Tuple[int, ...]] = None) -> np.ndarray:
    """Shift and scale ``field`` to zero mean and unit variance along ``axis``."""
    mean = field.mean(axis=axis, keepdims=True)
    std = field.std(axis=axis, keepdims=True)
    return (field - mean) / np.maximum(std, 1e-8)


def band_pass_noise(rng: np.random.Generator,
                    size: Tuple[int, int],
                    frequency: float,
                    bandwidth: float,
                    angle: Optional[float] = None,
                    num_channels: int = 1) -> np.ndarray:
    """Gaussian noise filtered to a frequency band, optionally to one orientation.

    White noise is filtered in the Fourier domain by a Gaussian bump around the wave vector
    ``frequency * (cos(angle), sin(angle))`` (and its mirror), which gives an oriented random
    texture whose gradients point along ``angle``; with ``angle=None`` the bump is a ring of radius
    ``frequency``, which gives an isotropic texture. Channels are independent draws.

    Args:
        rng (np.random.Generator): Source of randomness.
        size (tuple[int, int]): ``(height, width)`` of the field.
        frequency (float): Centre frequency in cycles per pixel, in ``[0, 0.5]``.
        bandwidth (float): Standard deviation of the band in cycles per pixel.
        angle (float, optional): Direction of the wave vector in radians (0 = along x, i.e.
            vertical stripes). Defaults to None (isotropic).
        num_channels (int): Number of independent channels. Defaults to 1.

    Returns:
        np.ndarray: Float32 array of shape ``(height, width, num_channels)``, each channel with zero
        mean and unit variance.
    """
    freq_x, freq_y = _frequency_grid(size)
    if angle is None:
        radius = np.sqrt(freq_x**2 + freq_y**2)
        gain = np.exp(-(radius - frequency)**2 / (2 * bandwidth**2))
    else:
        centre_x, centre_y = frequency * np.cos(angle), frequency * np.sin(angle)
        gain = (np.exp(-((freq_x - centre_x)**2 + (freq_y - centre_y)**2) / (2 * bandwidth**2)) +
                np.exp(-((freq_x + centre_x)**2 + (freq_y + centre_y)**2) / (2 * bandwidth**2)))
    noise = rng.standard_normal((num_channels, *size))
    field = np.fft.ifft2(np.fft.fft2(noise) * gain).real
    return _standardize(field, axis=(1, 2)).transpose(1, 2, 0).astype(np.float32)


def smooth_noise(rng: np.random.Generator, size: Tuple[int, int], scale: float) -> np.ndarray:
    """Low-frequency isotropic noise: blotches about ``scale`` pixels wide.

    Args:
        rng (np.random.Generator): Source of randomness.
        size (tuple[int, int]): ``(height, width)`` of the field.
        scale (float): Typical blotch size in pixels.

    Returns:
        np.ndarray: Float32 array of shape ``(height, width)`` with zero mean and unit variance.
    """
    freq_x, freq_y = _frequency_grid(size)
    gain = np.exp(-(freq_x**2 + freq_y**2) * (2 * np.pi * scale)**2 / 2)
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal(size)) * gain).real
    return _standardize(field).astype(np.float32)


def _rotated_coords(rng: np.random.Generator, size: Tuple[int, int],
                    angle: float) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by ``angle`` and shifted by a random offset."""
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    offset_x, offset_y = rng.uniform(0, 100, size=2)
    u = (xs + offset_x) * np.cos(angle) + (ys + offset_y) * np.sin(angle)
    v = -(xs + offset_x) * np.sin(angle) + (ys + offset_y) * np.cos(angle)
    return u, v


def texture_pattern(name: str, rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """A grey-level pattern of one texture type with random orientation, scale and phase.

    Args:
        name (str): One of :data:`TEXTURE_NAMES`, or ``'smooth'`` for low-frequency blotches
            (used for "other" regions and backgrounds).
        rng (np.random.Generator): Source of randomness.
        size (tuple[int, int]): ``(height, width)`` of the pattern.

    Returns:
        np.ndarray: Float32 array of shape ``(height, width)`` with values in ``[0, 1]``.
    """
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(5.0, 9.0)
    u, v = _rotated_coords(rng, size, angle)
    if name == 'stripes':
        pattern = 0.5 + 1.5 * np.sin(2 * np.pi * u / period)
    elif name == 'checker':
        pattern = 0.5 + 2.0 * np.sin(np.pi * u / period) * np.sin(np.pi * v / period)
    elif name == 'dots':
        cell = period * 1.3
        du = (u / cell) % 1.0 - 0.5
        dv = (v / cell) % 1.0 - 0.5
        pattern = 1.5 - 8.0 * (du**2 + dv**2)
    elif name == 'grain':
        pattern = 0.5 + 0.3 * band_pass_noise(rng, size, rng.uniform(0.3, 0.4), 0.06)[..., 0]
    elif name == 'waves':
        bend = rng.uniform(1.5, 3.0)
        pattern = 0.5 + 1.5 * np.sin(2 * np.pi * u / period +
                                     bend * np.sin(2 * np.pi * v / (3 * period)))
    elif name == 'grid':
        line_u = np.abs((u / (1.5 * period)) % 1.0 - 0.5)
        line_v = np.abs((v / (1.5 * period)) % 1.0 - 0.5)
        pattern = 4.0 * (np.maximum(line_u, line_v) - 0.35)
    elif name == 'smooth':
        pattern = 0.5 + 0.25 * smooth_noise(rng, size, rng.uniform(6.0, 14.0))
    else:
        raise ValueError(f'Unknown texture {name!r}; expected one of '
                         f"{TEXTURE_NAMES + ('smooth', )}.")
    return np.clip(pattern, 0.0, 1.0).astype(np.float32)


def random_colour_pair(rng: np.random.Generator,
                       min_contrast: float = 0.3) -> Tuple[np.ndarray, np.ndarray]:
    """Two random RGB colours in ``[0, 1]`` whose grey levels differ by at least ``min_contrast``.

    Args:
        rng (np.random.Generator): Source of randomness.
        min_contrast (float): Smallest difference of mean intensity. Defaults to 0.3.

    Returns:
        tuple[np.ndarray, np.ndarray]: Foreground and background colours, each of shape ``(3, )``.
    """
    while True:
        foreground, background = rng.uniform(0.0, 1.0, size=(2, 3))
        if abs(foreground.mean() - background.mean()) >= min_contrast:
            return foreground, background


def render_texture(name: str,
                   rng: np.random.Generator,
                   size: Tuple[int, int],
                   colours: Optional[Sequence[np.ndarray]] = None,
                   min_contrast: float = 0.3) -> np.ndarray:
    """A coloured texture: :func:`texture_pattern` blended between two colours.

    Args:
        name (str): Texture type, see :func:`texture_pattern`.
        rng (np.random.Generator): Source of randomness.
        size (tuple[int, int]): ``(height, width)`` of the texture.
        colours (Sequence[np.ndarray], optional): Foreground and background RGB colours in
            ``[0, 1]``. Defaults to None (a random pair from :func:`random_colour_pair`).
        min_contrast (float): Contrast of the random colour pair. Defaults to 0.3.

    Returns:
        np.ndarray: Float32 array of shape ``(height, width, 3)`` with values in ``[0, 1]``.
    """
    if colours is None:
        colours = random_colour_pair(rng, min_contrast)
    foreground, background = (np.asarray(c, dtype=np.float32) for c in colours)
    pattern = texture_pattern(name, rng, size)[..., None]
    return pattern * foreground + (1.0 - pattern) * background


def to_uint8(image: np.ndarray, rng: np.random.Generator, noise_std: float = 0.02) -> np.ndarray:
    """Add pixel noise to a float image in ``[0, 1]`` and quantise it to uint8.

    Args:
        image (np.ndarray): Float image of shape ``(height, width, 3)`` in ``[0, 1]``.
        rng (np.random.Generator): Source of randomness.
        noise_std (float): Standard deviation of the Gaussian pixel noise. Defaults to 0.02.

    Returns:
        np.ndarray: Uint8 image of the same shape.
    """
    noisy = image + noise_std * rng.standard_normal(image.shape)
    return np.clip(np.round(noisy * 255), 0, 255).astype(np.uint8)
