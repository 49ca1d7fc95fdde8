# Copyright (c) mmgcp contributors. All rights reserved.
import os.path as osp

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 'mmgcp', 'version.py')) as f:
        exec(compile(f.read(), 'mmgcp/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Read one requirement per line from ``requirements/<fname>``, skipping comments."""
    with open(osp.join(ROOT, 'requirements', fname)) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line]


setup(
    name='mmgcp',
    version=get_version(),
    description='OpenMMLab toolkit for global covariance pooling (GCP)',
    long_description=open(osp.join(ROOT, 'README.md')).read()
    if osp.exists(osp.join(ROOT, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    include_package_data=True,
    python_requires='>=3.8',
    install_requires=parse_requirements('pins.txt') + parse_requirements('runtime.txt'),
    extras_require={
        'tests': parse_requirements('tests.txt'),
        'mim': parse_requirements('mim.txt'),
    },
    zip_safe=False,
)
