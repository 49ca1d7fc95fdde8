# The paper-scale transfer experiment: ImageNet ResNet-50 trunks (GAP, GCP, DropCov) given as
# checkpoints, their ImageNet top-1 (one evaluation per checkpoint: it cannot change with a seed),
# and per fine-tuning seed: Mask R-CNN 1x on COCO with the three trunk treatments (layer4 at
# stride 2 as mmdet's ResNet; stride 1 + dilation 2, `-d2`; stride 1 + dilation 1, `-s1`, the
# trunk as GCP/DropCov were trained), Faster R-CNN 1x, and UperNet 160k on ADE20K, each against
# its GAP twin of the same architecture (UperNet with the trunk as trained, `-s1`, is one task
# more: docs/benchmark.md). Every run keeps its recipe:
# Mask/Faster R-CNN 1x 8 GPUs x 2 images (lr 0.02), UperNet 4 GPUs x 4 images (lr 0.01),
# ImageNet evaluation on 8 GPUs (docs/benchmark.md).
#
#   python tools/benchmark_transfer.py configs/benchmark/paper.py --dry-run \
#       --launcher slurm --gpus 8
#   python tools/benchmark_transfer.py configs/benchmark/paper.py --launcher slurm --gpus 8
#
# The checkpoints are what the conversion commands of docs/checkpoints.md write
# (tools/model_converters/gcp2mmpretrain.py SRC checkpoints/resnet50-<variant>_8xb32_in1k.pth);
# any layout the converter reads works too (the benchmark converts it once). Data at the
# libraries' standard paths under `data_root`: data/imagenet, data/coco, data/ade.
preset = 'paper'
pretrain = False
data_root = 'data'
variants = dict(
    gap=dict(pretrain_config='configs/pretrain/resnet50-gap_8xb32_in1k.py',
             checkpoint='checkpoints/resnet50-gap_8xb32_in1k.pth'),
    gcp=dict(pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py',
             checkpoint='checkpoints/resnet50-gcp_8xb32_in1k.pth'),
    dropcov=dict(pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py',
                 checkpoint='checkpoints/resnet50-dropcov_8xb32_in1k.pth'),
)
_mask_rcnn = 'configs/mask_rcnn/mask-rcnn_r50-{variant}{treatment}_fpn_1x_coco.py'
tasks = dict(
    imagenet=dict(kind='cls', metrics=['accuracy/top1']),
    coco=dict(kind='det', config=_mask_rcnn.replace('{treatment}', ''),
              metrics=['coco/bbox_mAP', 'coco/segm_mAP']),
    coco_d2=dict(kind='det', config=_mask_rcnn.replace('{treatment}', '-d2'),
                 metrics=['coco/bbox_mAP', 'coco/segm_mAP']),
    coco_s1=dict(kind='det', config=_mask_rcnn.replace('{treatment}', '-s1'),
                 metrics=['coco/bbox_mAP', 'coco/segm_mAP']),
    coco_faster_rcnn=dict(
        kind='det', config='configs/faster_rcnn/faster-rcnn_r50-{variant}_fpn_1x_coco.py',
        metrics=['coco/bbox_mAP']),
    ade20k=dict(
        kind='seg', config='configs/upernet/upernet_r50-{variant}_4xb4-160k_ade20k-512x512.py',
        metrics=['mIoU']),
)
# Where each task's data is ({data_root} is `data_root`); with the default 'data' these are the
# configs' own paths.
_coco = dict(
    **{f'{split}_dataloader': dict(dataset=dict(data_root='{data_root}/coco/'))
       for split in ('train', 'val', 'test')},
    val_evaluator=dict(ann_file='{data_root}/coco/annotations/instances_val2017.json'),
    test_evaluator=dict(ann_file='{data_root}/coco/annotations/instances_val2017.json'))
_ade = {f'{split}_dataloader': dict(dataset=dict(data_root='{data_root}/ade/ADEChallengeData2016'))
        for split in ('train', 'val', 'test')}
data_options = dict(
    imagenet={f'{split}_dataloader': dict(dataset=dict(data_root='{data_root}/imagenet'))
              for split in ('val', 'test')},
    coco=_coco, coco_d2=_coco, coco_s1=_coco, coco_faster_rcnn=_coco, ade20k=_ade)
