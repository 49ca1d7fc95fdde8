# Copyright (c) mmgcp contributors. All rights reserved.
from .experiment import Run, expand_runs, load_experiment
from .report import plot_results, write_results
from .runner import ToolLauncher, execute_run
from .transfer import check_toy_data, run_benchmark

__all__ = ['Run', 'expand_runs', 'load_experiment', 'write_results', 'plot_results',
           'ToolLauncher', 'execute_run', 'run_benchmark', 'check_toy_data']
