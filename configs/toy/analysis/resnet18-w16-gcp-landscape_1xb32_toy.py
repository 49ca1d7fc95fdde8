# Toy GCP classifier with the loss-landscape probe of the TPAMI paper
# (docs/papers.md, "Optimisation analysis"):
# split after the ResNet stem, 50 step sizes in [0.1, 75], every 4 iterations (twice an epoch).
_base_ = '../resnet18-w16-gcp_1xb32_toy.py'
# after the base's hooks (mmgcp.NonFiniteCheckHook)
custom_hooks = _base_.custom_hooks + [dict(type='mmgcp.LossLandscapeHook', interval=4)]
