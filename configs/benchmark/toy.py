# The toy transfer experiment (the main job): generates the toy sets, pretrains small GAP, GCP and
# DropCov ResNet-18 trunks on the toy classification set, fine-tunes each -- and the same
# architecture from random initialisation (`scratch`, the control) -- with Mask R-CNN on toy COCO
# and UperNet on toy ADE20K, evaluates, and reports, for 3 seeds by default. Sized for 2 CPU
# cores; docs/benchmark.md says how each budget below was chosen.
#
#   python tools/benchmark_transfer.py configs/benchmark/toy.py [--seeds 3]
preset = 'toy'
# The recipes are sized for CPU cores: each '1x' of a config name is one CPU process.
device = 'cpu'
pretrain = True
# Per set: arguments of tools/dataset_converters/make_toy_data.py (empty: its defaults). More
# validation images than the default 16: on fewer, one run's metric jumped between evaluations.
toy_data = dict(
    out_dir='data/toy', cls=dict(), coco=dict(num_val=64), ade20k=dict(num_val=128))
variants = dict(
    scratch=dict(from_scratch=True, arch='gap'),
    gap=dict(pretrain_config='configs/toy/resnet18-w16-gap_1xb32_toy.py'),
    gcp=dict(pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py'),
    dropcov=dict(pretrain_config='configs/toy/resnet18-w16-dropcov_1xb32_toy.py'),
)
tasks = dict(
    coco=dict(
        kind='det',
        config='configs/toy/det/mask-rcnn_r18-w16-{variant}_fpn_1xb4_toy.py',
        metrics=['coco/bbox_mAP', 'coco/segm_mAP']),
    ade20k=dict(
        kind='seg',
        config='configs/toy/seg/upernet_r18-w16-{variant}_1xb4_toy-128x128.py',
        metrics=['mIoU']),
)
# Where each task's data is ({toy_root} is toy_data.out_dir).
data_options = dict(
    pretrain={f'{split}_dataloader': dict(dataset=dict(data_root='{toy_root}/cls'))
              for split in ('train', 'val', 'test')},
    coco=dict(
        train_dataloader=dict(dataset=dict(data_root='{toy_root}/coco/')),
        val_dataloader=dict(dataset=dict(data_root='{toy_root}/coco/')),
        test_dataloader=dict(dataset=dict(data_root='{toy_root}/coco/')),
        val_evaluator=dict(ann_file='{toy_root}/coco/annotations/instances_val.json'),
        test_evaluator=dict(ann_file='{toy_root}/coco/annotations/instances_val.json')),
    ade20k={f'{split}_dataloader': dict(dataset=dict(data_root='{toy_root}/ade20k'))
            for split in ('train', 'val', 'test')},
)
# Budgets, chosen so that every run reaches its plateau (trials: docs/benchmark.md).
# The toy sets load in the main process: a loader worker costs more than it saves on 2 cores.
_main_process = dict(num_workers=0, persistent_workers=False)
cfg_options = dict(
    # 16 epochs: with 8, GCP and DropCov were still climbing.
    pretrain=dict(train_cfg=dict(max_epochs=16), param_scheduler={'1': dict(end=16)},
                  train_dataloader=_main_process, val_dataloader=_main_process,
                  test_dataloader=_main_process),
    coco=dict(
        # AdamW (the toy schedule's lr 1e-3 at 2 images per batch) learns several times faster
        # than SGD; batch 2 learns the most per CPU second.
        train_dataloader=dict(batch_size=2),
        optim_wrapper=dict(optimizer=dict(lr=1e-3)),
        param_scheduler={'0': dict(end=32)},
        # 16 epochs with lr steps after 12 and 15 (the schedule's milestones): every run settles.
        train_cfg=dict(max_epochs=16, val_begin=15, val_interval=1),
        default_hooks=dict(checkpoint=dict(interval=16)),
        # A 30% cheaper step pays for 16 epochs: fewer RoIs and proposals for 1-3 objects per
        # image, 7x7 mask RoIs and 14x14 targets for 32-72 px objects.
        model=dict(
            roi_head=dict(mask_roi_extractor=dict(roi_layer=dict(output_size=7))),
            train_cfg=dict(
                rpn_proposal=dict(nms_pre=300, max_per_img=100),
                rcnn=dict(sampler=dict(num=32), mask_size=14)),
            test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=50)))),
    ade20k=dict(
        # 288 iterations, the last two evaluations (240, 288) on the poly lr's tail: settled.
        train_cfg=dict(max_iters=288, val_interval=80),
        param_scheduler={'0': dict(end=288)},
        default_hooks=dict(checkpoint=dict(interval=288))),
)
