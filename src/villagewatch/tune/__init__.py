"""Try detector settings on history before applying them: replay stored readings and events
through today's village config and a candidate (``replay``), and say what would change
(``compare``). Pure: no store, no state file, no alert store, no notification."""

from villagewatch.tune.candidate import Plan, Trial, try_candidate
from villagewatch.tune.compare import (
    Comparison,
    Episode,
    EpisodeChange,
    GroupCount,
    compare,
    episodes,
)
from villagewatch.tune.replay import (
    ReplayError,
    Timeline,
    replay,
    replay_each,
    scoped,
    with_candidate,
)

__all__ = [
    "Comparison",
    "Episode",
    "EpisodeChange",
    "GroupCount",
    "Plan",
    "ReplayError",
    "Timeline",
    "Trial",
    "compare",
    "episodes",
    "replay",
    "replay_each",
    "scoped",
    "try_candidate",
    "with_candidate",
]
