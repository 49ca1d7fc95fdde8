# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp as an OpenMMLab config package: `mmgcp::` bases, mmgcp/.mim, a wheel that carries them."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from mmengine.config import Config

import mmgcp
from mmgcp.utils import add_mim_extension

USER_CONFIG = """_base_ = '{base}'
model = dict(head=dict(num_classes=7))
"""


def _user_config(tmp_path, base):
    path = tmp_path / 'my_config.py'
    path.write_text(USER_CONFIG.format(base=base))
    return str(path)


def test_mmgcp_base_resolves_in_the_checkout(tmp_path):
    cfg = Config.fromfile(_user_config(tmp_path, 'mmgcp::toy/resnet18-w16-gcp_1xb32_toy.py'))
    assert cfg.model.neck.type == 'mmgcp.GCPNeck'
    assert cfg.model.head.num_classes == 7  # the user's override on top
    assert cfg.model.head.in_channels == 32 * 33 // 2  # from mmgcp's config
    mim_configs = osp.join(osp.dirname(mmgcp.__file__), '.mim', 'configs')
    assert osp.samefile(mim_configs, osp.join(osp.dirname(osp.dirname(mmgcp.__file__)),
                                              'configs'))


def test_mmgcp_detection_base_resolves(tmp_path):
    path = tmp_path / 'det.py'
    path.write_text("_base_ = 'mmgcp::mask_rcnn/mask-rcnn_r50-gcp_fpn_1x_coco.py'\n")
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'MaskRCNN'
    assert cfg.model.backbone.init_cfg.type == 'mmgcp.PretrainedChecked'


def test_missing_mmgcp_config_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='no_such_config'):
        Config.fromfile(_user_config(tmp_path, 'mmgcp::toy/no_such_config.py'))


def test_add_mim_extension_links_or_copies(tmp_path):
    root = tmp_path / 'repo'
    (root / 'mmgcp').mkdir(parents=True)
    (root / 'configs' / 'toy').mkdir(parents=True)
    (root / 'configs' / 'toy' / 'a.py').write_text('x = 1\n')
    (root / 'tools').mkdir()
    (root / 'tools' / 'train.py').write_text('')
    (root / 'model-index.yml').write_text('Import: []\n')
    mim = add_mim_extension(str(root), 'symlink')
    assert osp.islink(osp.join(mim, 'configs'))
    (root / 'configs' / 'toy' / 'b.py').write_text('y = 2\n')  # a link shows new files at once
    assert osp.isfile(osp.join(mim, 'configs', 'toy', 'b.py'))
    add_mim_extension(str(root), 'copy')  # replaces the links by real files
    assert not osp.islink(osp.join(mim, 'configs'))
    assert open(osp.join(mim, 'configs', 'toy', 'a.py')).read() == 'x = 1\n'
    assert osp.isfile(osp.join(mim, 'model-index.yml'))
    with pytest.raises(ValueError, match="'symlink' or 'copy'"):
        add_mim_extension(str(root), 'hardlink')


@pytest.mark.slow
def test_wheel_installs_beside_the_stack_and_serves_mmgcp_configs(repo_root, tmp_path):
    """Build the wheel, install it in a fresh venv that sees the stack, load `mmgcp::` there."""
    src = tmp_path / 'src'
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info', 'build')
    for item in ('mmgcp', 'configs', 'tools'):
        shutil.copytree(osp.join(repo_root, item), src / item, ignore=ignore, symlinks=False)
    for item in ('setup.py', 'README.md', 'MANIFEST.in', 'model-index.yml', 'pyproject.toml'):
        shutil.copy(osp.join(repo_root, item), src / item)
    shutil.copytree(osp.join(repo_root, 'requirements'), src / 'requirements')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(tmp_path / 'dist'), str(src)],
                   check=True, env=env, capture_output=True, timeout=300)
    (wheel, ) = (tmp_path / 'dist').glob('mmgcp-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    assert 'mmgcp/.mim/model-index.yml' in names
    assert 'mmgcp/.mim/configs/toy/resnet18-w16-gcp_1xb32_toy.py' in names
    assert 'mmgcp/.mim/configs/pretrain/metafile.yml' in names
    assert 'mmgcp/.mim/tools/train.py' in names

    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True,
                   timeout=120)
    venv_python = str(venv / 'bin' / 'python')
    site = subprocess.run([venv_python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
                           "['purelib'])"], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()
    # the stack (torch, mmengine, mmdet, ...) from this environment, after the venv's own
    with open(osp.join(site, 'stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    subprocess.run([sys.executable, '-m', 'pip', '--python', venv_python, 'install', '-q',
                    '--no-deps', '--no-index', str(wheel)], check=True, env=env,
                   capture_output=True, timeout=300)
    user_cfg = _user_config(tmp_path, 'mmgcp::toy/resnet18-w16-gcp_1xb32_toy.py')
    check = ('import mmgcp, os.path as osp; from mmengine.config import Config; '
             f'cfg = Config.fromfile({user_cfg!r}); '
             'print(osp.dirname(mmgcp.__file__)); print(cfg.model.neck.type, '
             'cfg.model.head.num_classes)')
    proc = subprocess.run([venv_python, '-c', check], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    package_dir, values = proc.stdout.strip().splitlines()[-2:]
    assert package_dir.startswith(str(venv))  # the wheel's mmgcp, not the checkout's
    assert values == 'mmgcp.GCPNeck 7'
