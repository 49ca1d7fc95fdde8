# Copyright (c) mmgcp contributors. All rights reserved.
"""The in-process launcher's memoized config formatting changes no byte of what mmengine writes."""
from mmengine.config import Config
from mmengine.config import config as config_module


def test_config_formatting_is_memoized_and_identical(monkeypatch, repo_root):
    from mmgcp.benchmark.inprocess import memoize_config_formatting
    real = config_module.FormatCode
    calls = []

    def counting(text, **kwargs):
        calls.append(text)
        return real(text, **kwargs)

    monkeypatch.setattr(config_module, 'FormatCode', counting)
    cfg = Config.fromfile(f'{repo_root}/configs/toy/det/mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py')
    expected = cfg.pretty_text  # yapf without the cache
    other = Config.fromfile(f'{repo_root}/configs/toy/resnet18-w16-gcp_1xb32_toy.py')
    expected_other = other.pretty_text
    assert len(calls) == 2

    memoize_config_formatting(max_entries=2)
    memoize_config_formatting()  # idempotent: one cache, not a cache of a cache
    calls.clear()
    assert [cfg.pretty_text for _ in range(3)] == [expected] * 3
    assert other.pretty_text == expected_other and other.pretty_text == expected_other
    assert len(calls) == 2  # each distinct text formatted once
    cfg.merge_from_dict({'train_cfg.max_epochs': 3})  # another text: formatted anew
    assert 'max_epochs=3' in cfg.pretty_text and len(calls) == 3
    assert cfg.pretty_text != expected
    # the cache holds the last 2 texts: the first one was dropped and is formatted again
    det = f'{repo_root}/configs/toy/det/mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py'
    assert Config.fromfile(det).pretty_text == expected
    assert len(calls) == 4


def test_a_pickled_launcher_memoizes_in_the_process_that_runs_the_tool(repo_root, tmp_path):
    """The benchmark's pool workers are spawned processes that receive the launcher pickled:
    the memo must start in the process that runs the tool, not where the launcher was made."""
    import os
    import pickle
    import subprocess
    import sys

    from mmgcp.benchmark.inprocess import InProcessToolCalls
    launcher_file = tmp_path / 'launcher.pkl'
    launcher_file.write_bytes(pickle.dumps(InProcessToolCalls(repo_root)))
    script = tmp_path / 'probe.py'
    script.write_text('from mmengine.config import config\n'
                      "print('memoized:', getattr(config.FormatCode, '_mmgcp_memoized', False))\n")
    log = tmp_path / 'probe.log'
    worker = ('import pickle, sys\n'
              f'launcher = pickle.load(open({str(launcher_file)!r}, "rb"))\n'
              f'result = launcher.call([launcher.python, {str(script)!r}], {str(log)!r})\n'
              "sys.exit(result['returncode'])\n")
    done = subprocess.run([sys.executable, '-c', worker], cwd=repo_root, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=repo_root))
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'in process' in log.read_text() and 'memoized: True' in log.read_text()
