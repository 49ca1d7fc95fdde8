# The paper-scale transfer experiment: ImageNet-pretrained ResNet-50 trunks (GAP, GCP, DropCov)
# fine-tuned with Mask R-CNN 1x and Faster R-CNN 1x on COCO and UperNet 160k on ADE20K, plus their
# ImageNet top-1. Every run keeps its recipe: Mask/Faster R-CNN 1x 8 GPUs x 2 images (lr 0.02),
# UperNet 4 GPUs x 4 images (lr 0.01), ImageNet evaluation on 8 GPUs.
#
#   python tools/benchmark_transfer.py configs/benchmark/paper.py --dry-run \
#       --launcher slurm --gpus 8
#   python tools/benchmark_transfer.py configs/benchmark/paper.py --launcher slurm --gpus 8
#   python tools/benchmark_transfer.py configs/benchmark/paper.py --launcher pytorch --gpus 8
#
# Set the checkpoint paths (published checkpoints in any format tools/model_converters/ reads,
# or mmpretrain checkpoints); data at the standard paths data/imagenet, data/coco, data/ade.
preset = 'paper'
pretrain = False
variants = dict(
    gap=dict(pretrain_config='configs/pretrain/resnet50-gap_8xb32_in1k.py',
             checkpoint='checkpoints/resnet50-gap_in1k.pth'),
    gcp=dict(pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py',
             checkpoint='checkpoints/resnet50-gcp_in1k.pth'),
    dropcov=dict(pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py',
                 checkpoint='checkpoints/resnet50-dropcov_in1k.pth'),
)
tasks = dict(
    imagenet=dict(kind='cls', metrics=['accuracy/top1']),
    coco=dict(
        kind='det',
        config='configs/mask_rcnn/mask-rcnn_r50-{variant}_fpn_1x_coco.py',
        metrics=['coco/bbox_mAP', 'coco/segm_mAP']),
    coco_faster_rcnn=dict(
        kind='det',
        config='configs/faster_rcnn/faster-rcnn_r50-{variant}_fpn_1x_coco.py',
        metrics=['coco/bbox_mAP']),
    ade20k=dict(
        kind='seg',
        config='configs/upernet/upernet_r50-{variant}_4xb4-160k_ade20k-512x512.py',
        metrics=['mIoU']),
)
