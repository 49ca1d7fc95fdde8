# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp as an OpenMMLab config package: ``_base_ = 'mmgcp::toy/...'`` and ``mim train mmgcp``.

Like mmdet and mmyolo, mmgcp ships its ``configs/``, ``tools/`` and ``model-index.yml`` inside the
package, under ``mmgcp/.mim/``: ``setup.py`` copies them there when it builds a wheel and links
them when it installs in editable mode (:func:`add_mim_extension`, stdlib only, so that
``setup.py`` can run it without importing mmgcp).

mmengine 0.10.7 resolves ``pkg::path`` only for a fixed list of OpenMMLab packages and looks for the
package next to its distribution metadata, which is wrong for editable installs (PEP 660).
:func:`register_config_package`, run when mmgcp is imported, adds mmgcp to that list and resolves
``mmgcp::`` to the imported package's ``.mim/configs``. A config that inherits ``mmgcp::...``
therefore needs mmgcp imported before it is parsed: mmgcp's tools and ``mim train mmgcp`` do it; in
another project, ``import mmgcp`` in its tool (or ``python -c``) before ``Config.fromfile``.
"""
import os
import os.path as osp
import shutil

#: What goes into ``mmgcp/.mim``, relative to the repository root.
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')


def _remove(path: str) -> None:
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def add_mim_extension(root: str, mode: str) -> str:
    """Put :data:`MIM_ITEMS` of the repository ``root`` into ``root/mmgcp/.mim``.

    Args:
        root (str): Repository root (holds ``configs/``, ``tools/``, ``model-index.yml``).
        mode (str): ``'symlink'`` (editable install: relative links, edits show at once) or
            ``'copy'`` (wheel/sdist: real files that the package data picks up).

    Returns:
        str: The ``.mim`` directory.
    """
    if mode not in ('symlink', 'copy'):
        raise ValueError(f"mode must be 'symlink' or 'copy', got {mode!r}.")
    mim_dir = osp.join(root, 'mmgcp', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for item in MIM_ITEMS:
        src = osp.join(root, item)
        if not osp.exists(src):
            continue
        dst = osp.join(mim_dir, item)
        _remove(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)
    return mim_dir


def package_dir() -> str:
    """Directory of the imported ``mmgcp`` package."""
    return osp.dirname(osp.dirname(osp.abspath(__file__)))


def _ensure_checkout_links() -> None:
    """In a source checkout, keep ``mmgcp/.mim`` as links to ``configs/``, ``tools/``, ...

    Needed when the editable install predates ``.mim``, or after a wheel was built in place
    (which leaves copies that would hide later edits of the configs).
    """
    pkg = package_dir()
    root = osp.dirname(pkg)
    if not (osp.isfile(osp.join(root, 'setup.py')) and osp.isdir(osp.join(root, 'configs'))):
        return
    mim_dir = osp.join(pkg, '.mim')
    if all(osp.islink(osp.join(mim_dir, item)) or not osp.exists(osp.join(root, item))
           for item in MIM_ITEMS):
        return
    try:
        add_mim_extension(root, 'symlink')
    except OSError:  # read-only checkout: `mmgcp::` then fails with mmengine's own error
        pass


def register_config_package() -> None:
    """Let mmengine resolve ``mmgcp::<path>`` to ``<mmgcp package>/.mim/configs/<path>``.

    Idempotent. Adds ``mmgcp`` to mmengine's ``MODULE2PACKAGE`` and makes the path lookup of
    ``mmengine.config`` return the imported package's directory for mmgcp (other packages are
    looked up as before).
    """
    from mmengine.config import config as config_module
    from mmengine.config import utils as config_utils

    config_utils.MODULE2PACKAGE.setdefault('mmgcp', 'mmgcp')
    original = config_module.get_installed_path
    if getattr(original, 'mmgcp_patched', False):
        return

    def get_installed_path(package: str) -> str:
        if package == 'mmgcp':
            return package_dir()
        return original(package)

    get_installed_path.mmgcp_patched = True
    config_module.get_installed_path = get_installed_path
    _ensure_checkout_links()
