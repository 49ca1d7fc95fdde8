# Copyright (c) mmgcp contributors. All rights reserved.
"""The cross-task transfer benchmark. Data flows one way: an experiment becomes planned runs
(:mod:`.experiment`, :mod:`.plan`), a launcher executes them (:mod:`.launchers`, each run through
:mod:`.execute`), the report reads what they left (:mod:`.report`, :mod:`.stats`); the driver
(:mod:`.driver`) is the one place that knows the order."""
from .driver import run_benchmark
from .experiment import Run, expand_runs, load_experiment
from .report import plot_results, write_results
from .toy_data import check_toy_data

__all__ = ['Run', 'expand_runs', 'load_experiment', 'write_results', 'plot_results',
           'run_benchmark', 'check_toy_data']
