# Copyright (c) mmgcp contributors. All rights reserved.
import os.path as osp
import runpy
import sys

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


def add_mim_extension() -> None:
    """Ship configs/, tools/ and model-index.yml in ``mmgcp/.mim`` (as mmdet and mmyolo do).

    Links for editable installs (``pip install -e .``, ``setup.py develop``), copies for wheels and
    sdists; other commands leave ``.mim`` as it is. The logic lives in mmgcp/utils/mim.py (stdlib
    only), run here without importing mmgcp.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('bdist_wheel', 'sdist', 'build', 'install')):
        mode = 'copy'
    else:
        return
    mim = runpy.run_path(osp.join(ROOT, 'mmgcp', 'utils', 'mim.py'))
    mim['add_mim_extension'](ROOT, mode)


add_mim_extension()
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
    package_data={
        'mmgcp': ['.mim/model-index.yml', '.mim/configs/**/*.py', '.mim/configs/**/*.yml',
                  '.mim/configs/**/*.md', '.mim/tools/**/*.py', '.mim/tools/**/*.sh']
    },
    python_requires='>=3.8',
    install_requires=parse_requirements('pins.txt') + parse_requirements('runtime.txt'),
    extras_require={
        'tests': parse_requirements('tests.txt'),
        'docs': parse_requirements('docs.txt'),
        'mim': parse_requirements('mim.txt'),
    },
    zip_safe=False,
)
