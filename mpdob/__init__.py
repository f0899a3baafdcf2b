"""MP-DOB reproduction: CNN partitioning, the offloading game and learned load balance.

The modules follow the paper's structure; see ``CONTRIBUTING.md`` for a map.
"""

from mpdob.game import CycleWarning, RoundLimitWarning

__all__ = ["CycleWarning", "RoundLimitWarning", "__version__"]

__version__ = "0.1.0"
