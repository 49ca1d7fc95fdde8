# Copyright (c) mmgcp contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .decode_heads import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
