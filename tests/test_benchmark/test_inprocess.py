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
