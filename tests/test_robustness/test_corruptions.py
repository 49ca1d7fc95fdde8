# Copyright (c) mmgcp contributors. All rights reserved.
import numpy as np
import pytest

from mmgcp.robustness import CORRUPTIONS, corrupt_image, corruption_seed
from mmgcp.robustness.corruptions import _glass_shuffle, _glass_shuffle_reference

#: Corruptions that draw random numbers (the others are deterministic functions of the image).
STOCHASTIC = ('gaussian_noise', 'shot_noise', 'impulse_noise', 'glass_blur', 'motion_blur',
              'snow', 'frost', 'fog', 'elastic_transform')


@pytest.fixture(scope='module')
def image():
    return np.random.RandomState(0).randint(0, 256, (64, 72, 3), dtype=np.uint8)


@pytest.mark.parametrize('corruption', CORRUPTIONS)
def test_every_corruption_changes_the_image_and_keeps_its_format(image, corruption):
    out = corrupt_image(image, corruption, 2, seed=0, key='a.png')
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)


@pytest.mark.parametrize('corruption', STOCHASTIC)
def test_deterministic_per_seed(image, corruption):
    first = corrupt_image(image, corruption, 3, seed=0, key='a.png')
    again = corrupt_image(image.copy(), corruption, 3, seed=0, key='a.png')
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != corrupt_image(image, corruption, 3, seed=1, key='a.png').tobytes()
    assert first.tobytes() != corrupt_image(image, corruption, 3, seed=0, key='b.png').tobytes()


def test_severity_zero_is_identity(image):
    for corruption in CORRUPTIONS:
        assert corrupt_image(image, corruption, 0) is image


def test_global_random_state_is_untouched(image):
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    corrupt_image(image, 'gaussian_noise', 1, seed=5, key=0)
    np.testing.assert_array_equal(np.random.rand(3), expected)


def test_bgr_is_corrupted_as_rgb(image):
    bgr = corrupt_image(image[..., ::-1], 'frost', 1, key='k', channel_order='bgr')
    rgb = corrupt_image(image, 'frost', 1, key='k', channel_order='rgb')
    np.testing.assert_array_equal(bgr[..., ::-1], rgb)


def test_seed_is_stable():
    # a fixed value: the derivation must not depend on the process (Python's hash is salted)
    assert corruption_seed(0, 'a.png', 'fog', 3) == corruption_seed(0, 'a.png', 'fog', 3)
    assert corruption_seed(0, 'a.png', 'fog', 3) != corruption_seed(0, 'a.png', 'fog', 4)
    assert 0 <= corruption_seed(7, 3, 'snow', 1) < 2**32


@pytest.mark.parametrize('max_delta,iterations', [(1, 2), (4, 2)])
def test_fast_glass_shuffle_matches_reference(image, max_delta, iterations):
    np.random.seed(0)
    reference = _glass_shuffle_reference(image.copy(), max_delta, iterations)
    np.random.seed(0)
    np.testing.assert_array_equal(_glass_shuffle(image.copy(), max_delta, iterations), reference)


def test_bad_inputs_name_the_fix(image):
    with pytest.raises(ValueError, match='unknown corruption'):
        corrupt_image(image, 'rain', 1)
    with pytest.raises(ValueError, match='severity'):
        corrupt_image(image, 'fog', 6)
    with pytest.raises(ValueError, match='at least 32'):
        corrupt_image(image[:16], 'fog', 1)
