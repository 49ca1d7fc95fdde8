# Copyright (c) mmgcp contributors. All rights reserved.
"""Argument checks shared by mmgcp's modules."""


def check_rates(**rates: float) -> None:
    """Raise ``ValueError`` unless every named dropout / drop-path rate is in ``[0, 1)``.

    Example:
        >>> check_rates(token_drop=0.2, cov_dropout=0.5)
    """
    for name, rate in rates.items():
        if not 0 <= rate < 1:
            raise ValueError(f'{name} must be in [0, 1), got {rate}.')
