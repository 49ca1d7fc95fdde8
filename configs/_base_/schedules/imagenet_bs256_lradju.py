# "LRadju" (docs/papers.md, "Recipes and schedules"):
# lr = 0.1 * (1 - (e - 1) / 49) ** 2 for epochs e = 1..50.
# mmengine's PolyLR gives base * (1 - t / T) ** power at 0-based epoch t with T = end - begin - 1.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='PolyLR', power=2, eta_min=0, by_epoch=True, begin=0, end=50)
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
