# Copyright (c) mmgcp contributors. All rights reserved.
"""FLOPs of a model in mmengine's convention, with mmgcp's GCP ops counted.

mmengine's :class:`~mmengine.analysis.FlopAnalyzer` traces the model and counts one
multiply-add as one FLOP for convolutions, linear layers and matrix products (element-wise ops are
not counted). mmgcp's ops are custom autograd Functions, which the trace records as one
``prim::PythonOp.<Function>`` node without looking inside, so mmpretrain's ``get_flops.py`` misses
the covariance, the Newton-Schulz iterations and everything after them. This module gives each of
those nodes a handle that counts the matrix products of the path the op actually runs, from the
shapes of its inputs:

=================================  ===============================================================
Function                           multiply-adds per sample (C x M input, d x d matrices, N iters)
=================================  ===============================================================
covariance                         ``C^2 M`` (one C x M by M x C product)
isqrt on Sigma (d x d)             ``(3N - 2) d^3``: 3 products per step k = 2..N, then ``A Q``
covariance_isqrt, Gram path        ``2 M^2 d + 3(N - 1) M^3 + d^2 M`` when ``M < d``: the M x M
                                   Gram matrix, the iteration on it, ``Xc Q`` and ``(Xc Q) Xc^T``
covariance_isqrt, M >= d           covariance + isqrt (the op takes that path)
matrix_power (MPN-COV)             ``d^3`` for ``U diag U^T`` + ``4.5 d^3`` for ``eigh`` (the
                                   textbook 9 d^3 flops of the symmetric QR algorithm, halved)
triu_vectorize                     0 (a gather)
=================================  ===============================================================

The classifier ``Linear(d(d+1)/2 -> classes)`` is an ordinary ``aten::linear`` and is counted by
mmengine once the model's forward reaches the head (``mode='tensor'``, not ``extract_feat``).
"""
import functools
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.print_helper import _format_size, complexity_stats_table
from mmengine.config import Config

from .inputs import build_model, input_shape, load_config, synthetic_batch

#: Name prefix of the traced nodes of custom autograd Functions.
PYTHON_OP = 'prim::PythonOp.'


def _shape(value: Any) -> Tuple[int, ...]:
    sizes = value.type().sizes() if hasattr(value.type(), 'sizes') else None
    if sizes is None:
        raise ValueError(f'No static shape for traced value {value}.')
    return tuple(sizes)


def _scalar_args(outputs: List[Any]) -> list:
    """The non-tensor arguments of the PythonOp node that produced ``outputs``."""
    return list(outputs[0].node().scalar_args())


def covariance_flops(batch: int, channels: int, positions: int) -> int:
    """Multiply-adds of ``covariance`` on ``batch x channels x positions`` features."""
    return batch * channels * channels * positions


def isqrt_flops(batch: int, dim: int, num_iters: int) -> int:
    """Multiply-adds of ``isqrt`` on ``batch x dim x dim`` matrices with N = ``num_iters``."""
    return batch * (3 * (num_iters - 1) + 1) * dim**3


def covariance_isqrt_gram_flops(batch: int, dim: int, positions: int, num_iters: int) -> int:
    """Multiply-adds of the Gram-matrix path of ``covariance_isqrt`` (``positions < dim``)."""
    m = positions
    return batch * (2 * m * m * dim + 3 * (num_iters - 1) * m**3 + dim * dim * m)


def matrix_power_flops(batch: int, dim: int) -> int:
    """Multiply-adds of ``matrix_power`` (``eigh`` estimated at 4.5 d^3, plus ``U diag U^T``)."""
    return batch * (dim**3 + (9 * dim**3) // 2)


@dataclass
class GCPOpCount:
    """One call of an mmgcp op in the traced forward.

    Attributes:
        op (str): The Function's name.
        path (str): What ran, with the shapes (e.g. ``Gram path, M=196 < d=256, N=5``).
        flops (int): Multiply-adds of the call.
    """
    op: str
    path: str
    flops: int


def _make_handles(records: List[GCPOpCount]) -> Dict[str, Callable]:
    """FlopAnalyzer handles for mmgcp's Functions; each call is also appended to ``records``."""

    def record(op: str, path: str, flops: int) -> int:
        records.append(GCPOpCount(op, path, flops))
        return flops

    def covariance(inputs, outputs):
        b, c, m = _shape(inputs[0])
        return record('covariance', f'C={c}, M={m}', covariance_flops(b, c, m))

    def isqrt(inputs, outputs):
        b, d, _ = _shape(inputs[0])
        num_iters = int(_scalar_args(outputs)[0])
        return record('isqrt', f'd={d}, N={num_iters}', isqrt_flops(b, d, num_iters))

    def covariance_isqrt_gram(inputs, outputs):
        b, d, m = _shape(inputs[0])
        num_iters = int(_scalar_args(outputs)[0])
        return record('covariance_isqrt', f'Gram path, M={m} < d={d}, N={num_iters}',
                      covariance_isqrt_gram_flops(b, d, m, num_iters))

    def matrix_power(inputs, outputs):
        b, d, _ = _shape(inputs[0])
        return record('matrix_power', f'd={d}, eigh', matrix_power_flops(b, d))

    def triu(inputs, outputs):
        d = _shape(inputs[0])[-1]
        return record('triu_vectorize', f'd={d} -> {d * (d + 1) // 2}', 0)

    return {
        PYTHON_OP + '_CovarianceFunction': covariance,
        PYTHON_OP + '_ISqrtFunction': isqrt,
        PYTHON_OP + '_CovarianceISqrtGramFunction': covariance_isqrt_gram,
        # The CPU evaluates the same functions through eigh (mmgcp/ops/isqrt.py); the count is
        # that of the iteration, which is what runs on GPUs and what the papers count.
        PYTHON_OP + '_ISqrtSpectralFunction': isqrt,
        PYTHON_OP + '_CovarianceISqrtSpectralFunction': covariance_isqrt_gram,
        PYTHON_OP + '_MatrixPowerFunction': matrix_power,
        PYTHON_OP + '_TriuVectorizeFunction': triu,
        'aten::scaled_dot_product_attention': _sdpa_flops,
    }


def _sdpa_flops(inputs, outputs) -> int:
    """``softmax(q k^T) v``: two products of ``... x N x N x d`` (mmengine 0.10 has no handle)."""
    q, k, v = (_shape(x) for x in inputs[:3])
    batch = 1
    for size in q[:-2]:
        batch *= size
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


@dataclass
class FlopsResult:
    """What :func:`get_flops` measured.

    Attributes:
        flops (int): Total multiply-adds of one forward.
        params (int): Number of parameters.
        input_shape (tuple): ``(C, H, W)`` of the input, after padding.
        by_module (dict): Multiply-adds per module name (``''`` is the model).
        params_by_module (dict): Parameters per module name.
        gcp_ops (list[GCPOpCount]): Every mmgcp op call, with its path.
        gcp_modules (dict): ``name -> (type, flops, params)`` of the outermost mmgcp modules.
        uncounted (dict): Custom ops with no FLOP formula, with their call counts.
        by_operator (dict): Multiply-adds per operator type (``conv``, ``linear``,
            ``batch_norm``, ``PythonOp._ISqrtFunction``, ...).
        table (str): mmengine's per-module table.
    """
    flops: int
    params: int
    input_shape: tuple
    by_module: Dict[str, int]
    params_by_module: Dict[str, int]
    gcp_ops: List[GCPOpCount] = field(default_factory=list)
    gcp_modules: Dict[str, Tuple[str, int, int]] = field(default_factory=dict)
    uncounted: Dict[str, int] = field(default_factory=dict)
    by_operator: Dict[str, int] = field(default_factory=dict)
    table: str = ''


def _gcp_modules(model: nn.Module) -> Dict[str, nn.Module]:
    """The outermost submodules defined by mmgcp (necks, heads, decode heads).

    The model itself is not one of them, also where mmgcp defines it (a padding-aware detector).
    """
    found: Dict[str, nn.Module] = OrderedDict()
    for name, module in model.named_modules():
        if not name or not type(module).__module__.startswith('mmgcp.'):
            continue
        if any(name.startswith(parent + '.') for parent in found):
            continue
        found[name] = module
    return found


def count_flops(model: nn.Module,
                inputs: Union[torch.Tensor, Tuple],
                max_depth: int = 3) -> FlopsResult:
    """Count the multiply-adds of ``model(*inputs)`` with mmgcp's ops included.

    Args:
        model (nn.Module): Any module; its ``forward`` is traced with ``inputs``.
        inputs (Tensor | tuple): Positional inputs of the forward.
        max_depth (int): Depth of the per-module table. Defaults to 3.

    Returns:
        FlopsResult: Totals, per-module counts, the mmgcp ops and the table.
    """
    if not isinstance(inputs, tuple):
        inputs = (inputs, )
    records: List[GCPOpCount] = []
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(**_make_handles(records))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    by_module = dict(analyzer.by_module())
    total = analyzer.total()
    uncounted = Counter({
        op: n
        for op, n in analyzer.unsupported_ops().items() if op.startswith(PYTHON_OP)
    })
    params = parameter_count(model)
    gcp_modules = {
        name: (type(module).__name__, by_module.get(name, 0), params.get(name, 0))
        for name, module in _gcp_modules(model).items()
    }
    table = complexity_stats_table(flops=analyzer, max_depth=max_depth, show_param_shapes=False)
    shape = tuple(inputs[0].shape[1:]) if isinstance(inputs[0], torch.Tensor) else ()
    return FlopsResult(
        flops=int(total),
        params=int(params.get('', 0)),
        input_shape=shape,
        by_module=by_module,
        params_by_module=dict(params),
        gcp_ops=records,
        gcp_modules=gcp_modules,
        uncounted=dict(uncounted),
        by_operator={op: int(n) for op, n in analyzer.by_operator().items()},
        table=table)


def get_flops(config: Union[str, Config],
              shape: Optional[Sequence[int]] = None,
              cfg_options: Optional[dict] = None,
              max_depth: int = 3) -> FlopsResult:
    """FLOPs and parameters of a config's model for one image of size ``shape``.

    The model runs ``forward(mode='tensor')``: backbone, neck and head for mmpretrain (the
    classifier included), up to the RoI heads for mmdet (proposals of a randomly initialised
    RPN; the test-time proposal count of the config), backbone and decode head for mmseg (the
    auxiliary head is not run at inference).

    Args:
        config (str | Config): Config of mmpretrain, mmdet or mmseg.
        shape (Sequence[int], optional): ``H`` or ``H W``. Defaults to 224 (mmpretrain),
            800 x 1333 (mmdet) or the config's crop size (mmseg).
        cfg_options (dict, optional): Config overrides.
        max_depth (int): Depth of the per-module table. Defaults to 3.

    Returns:
        FlopsResult: See :func:`count_flops`; module names are the model's.
    """
    cfg = load_config(config, cfg_options)
    size = input_shape(cfg, shape)
    torch.manual_seed(0)
    model = build_model(cfg)
    with torch.no_grad():
        batch = synthetic_batch(model, cfg, size, batch_size=1)
    # mmdet's and mmseg's get_flops do the same: the instance's forward takes the tensor only
    model.forward = functools.partial(
        type(model).forward, model, data_samples=batch.get('data_samples'), mode='tensor')
    try:
        result = count_flops(model, (batch['inputs'], ), max_depth=max_depth)
    finally:
        del model.forward
    return result


def format_flops_report(result: FlopsResult, config: str = '') -> str:
    """The report printed by ``tools/analysis/get_flops.py``; ends with Flops and Params lines.

    Args:
        result (FlopsResult): From :func:`get_flops`.
        config (str): Config path to print. Defaults to ``''``.

    Returns:
        str: The report.
    """
    total = max(result.flops, 1)
    lines = ['=' * 60]
    if config:
        lines.append(f'Config: {config}')
    lines.append(f'Input shape: {result.input_shape}')
    lines.append('FLOPs: mmengine convention (one multiply-add = one FLOP; element-wise ops '
                 'not counted)')
    lines.append(result.table)
    top = [(name, flops) for name, flops in result.by_module.items()
           if name and '.' not in name and name != 'data_preprocessor']
    if top:
        lines.append('\nShare of the total per top-level module:')
        for name, flops in top:
            params = result.params_by_module.get(name, 0)
            lines.append(f'  {name:<24} {_format_size(flops):>8}  {100 * flops / total:5.1f}%'
                         f'  params {_format_size(params)}')
    if result.gcp_modules:
        lines.append('\nmmgcp modules (the GCP part):')
        for name, (kind, flops, params) in result.gcp_modules.items():
            lines.append(f'  {name:<24} {kind:<20} {_format_size(flops):>8} '
                         f'{100 * flops / total:5.1f}%  params {_format_size(params)}')
    if result.gcp_ops:
        lines.append('\nmmgcp ops, counted from their shapes (path that runs):')
        for rec in result.gcp_ops:
            lines.append(f'  {rec.op:<18} {rec.path:<36} {_format_size(rec.flops):>8}')
    if result.by_operator:
        lines.append('\nPer operator type:')
        for op, flops in sorted(result.by_operator.items(), key=lambda kv: -kv[1]):
            lines.append(f'  {op:<40} {_format_size(flops):>8}  {100 * flops / total:5.1f}%')
    if result.uncounted:
        ops = ', '.join(f'{op[len(PYTHON_OP):]} x{n}' for op, n in result.uncounted.items())
        lines.append(f'\nNot counted (custom ops without a FLOP formula, as in mmdet\'s '
                     f'get_flops): {ops}')
    lines.append('=' * 60)
    lines.append(f'Flops: {result.flops / 1e9:.3f}G')
    lines.append(f'Params: {result.params / 1e6:.3f}M')
    return '\n'.join(lines)
