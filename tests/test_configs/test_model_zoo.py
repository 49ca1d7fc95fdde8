# Copyright (c) mmgcp contributors. All rights reserved.
"""The model zoo is complete and consistent: model-index.yml -> metafiles -> configs -> READMEs.

Data-driven: a new config only needs its entry in its folder's metafile.yml (and a line in the
folder's README.md); nothing here lists configs by name.
"""
import glob
import os.path as osp

import pytest
import yaml

#: Config folders that hold no models: bases and benchmark experiment configs.
NOT_MODELS = ('configs/_base_/', 'configs/benchmark/')


def _load(path):
    with open(path) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope='module')
def zoo(repo_root):
    index = _load(osp.join(repo_root, 'model-index.yml'))
    metafiles = {path: _load(osp.join(repo_root, path)) for path in index['Import']}
    return index, metafiles


def _model_configs(repo_root):
    found = []
    for path in glob.glob(osp.join(repo_root, 'configs', '**', '*.py'), recursive=True):
        rel = osp.relpath(path, repo_root).replace(osp.sep, '/')
        if not rel.startswith(NOT_MODELS):
            found.append(rel)
    return sorted(found)


def test_index_imports_every_metafile(repo_root, zoo):
    index, _ = zoo
    on_disk = sorted(
        osp.relpath(p, repo_root).replace(osp.sep, '/')
        for p in glob.glob(osp.join(repo_root, 'configs', '*', 'metafile.yml')))
    assert sorted(index['Import']) == on_disk


def test_every_config_is_listed_once_and_every_listed_config_exists(repo_root, zoo):
    _, metafiles = zoo
    listed = [m['Config'] for meta in metafiles.values() for m in meta['Models']]
    missing = sorted(set(_model_configs(repo_root)) - set(listed))
    assert not missing, f'configs without a metafile entry: {missing}'
    absent = sorted(c for c in listed if not osp.isfile(osp.join(repo_root, c)))
    assert not absent, f'metafile entries whose config does not exist: {absent}'
    duplicated = sorted({c for c in listed if listed.count(c) > 1})
    assert not duplicated, f'configs listed twice: {duplicated}'


def test_entries_follow_the_openmmlab_layout(repo_root, zoo):
    _, metafiles = zoo
    names = []
    for path, meta in metafiles.items():
        folder = osp.dirname(path)
        collections = {c['Name'] for c in meta['Collections']}
        readme = open(osp.join(repo_root, folder, 'README.md')).read()
        for model in meta['Models']:
            where = f"{path}: {model.get('Name')}"
            names.append(model['Name'])
            assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0], where
            assert model['Config'].startswith(folder + '/'), where
            assert model['In Collection'] in collections, where
            assert 'Training Data' in model['Metadata'], where
            for key in ('FLOPs', 'Parameters'):
                value = model['Metadata'].get(key)
                assert value is None or (isinstance(value, int) and value > 0), where
            assert 'Weights' in model, where
            for result in model.get('Results', []):
                assert {'Task', 'Dataset', 'Metrics'} <= set(result), where
                source = result['Metrics'].get('Source', '')
                # every number says where it comes from: the papers or a run measured here
                assert source.startswith(('published', 'measured')), where
            assert model['Name'] in readme, f'{where} is not in {folder}/README.md'
    assert len(names) == len(set(names)), 'model names must be unique'


def _published(metafiles) -> dict:
    """(model name, metric) -> value of every published metric in the metafiles."""
    metrics = {}
    for meta in metafiles.values():
        for model in meta['Models']:
            for result in model.get('Results', []):
                if result['Metrics'].get('Source', '').startswith('published'):
                    for key, value in result['Metrics'].items():
                        metrics[(model['Name'], key)] = value
    return metrics


def test_published_metrics_are_the_papers(zoo):
    """Spot-check a few anchors of the papers (ImageNet top-1)."""
    _, metafiles = zoo
    metrics = _published(metafiles)
    assert metrics[('resnet50-gap_8xb32_in1k', 'Top 1 Accuracy')] == 76.02
    assert metrics[('resnet50-gcp_8xb32_in1k', 'Top 1 Accuracy')] == 78.56
    assert metrics[('resnet50-dropcov_8xb32_in1k', 'Top 1 Accuracy')] == 78.19
    assert metrics[('densetok-vit-small-dropcov_8xb128_in1k', 'Top 1 Accuracy')] == 82.4


#: Configs beside which no published number may stand: the transfer configs (no published model
#: is known to be theirs) and the classifiers whose published recipe is not followed.
NO_PUBLISHED_NUMBER = ('mask-rcnn_', 'faster-rcnn_', 'upernet', 'mobilenet-v2-', 'deit-small-')
CVPR20_TRANSFER = 'docs/papers.md#cvpr20-transfer'


def test_no_published_number_beside_configs_that_are_not_its_model(zoo):
    _, metafiles = zoo
    attached = sorted({name for name, _ in _published(metafiles)
                       if name.startswith(NO_PUBLISHED_NUMBER)})
    assert not attached, attached


def test_transfer_numbers_are_stated_once_and_linked(repo_root):
    papers = open(osp.join(repo_root, 'docs', 'papers.md')).read()
    assert '<a id="cvpr20-transfer"></a>' in papers
    section = papers[papers.index('<a id="cvpr20-transfer"></a>'):]
    section = section[:section.index('\n## ', section.index('## ') + 3)]
    # both CVPR'20 columns, and what the reader needs to use them
    assert '| detector | backbone | GAP | GCP_D | GCP_M |' in section
    assert '| Faster R-CNN box AP | R-50 | 36.4 | 36.6 | 37.1 |' in section
    assert ('| Mask R-CNN box / mask AP | R-101 | 39.4 / 35.9 | 40.3 / 36.5 | 40.7 / 36.7 |'
            in section)
    assert 'is not published' in section and 'mmdetection v1' in section
    assert 'reproducible' not in papers  # the configs have not reproduced the numbers
    for folder in ('mask_rcnn', 'faster_rcnn', 'upernet'):
        readme = open(osp.join(repo_root, 'configs', folder, 'README.md')).read()
        assert f'../../{CVPR20_TRANSFER})' in readme, folder
        assert 'GCP_M' not in readme or 'GCP_D' in readme, folder  # never one column alone
