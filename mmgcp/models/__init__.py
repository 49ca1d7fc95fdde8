# Copyright (c) mmgcp contributors. All rights reserved.
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
