"""The read side every service keeps of other services' published facts, once for all: the
queries' frame over a read model (`queries`), the pupil's consent and erasure columns a facts
projection folds (`pupils`), the projection worker's factory (`worker`) and the builders tests
feed a facts projection with (`testing`).
"""

from typing import Final

# The sources every facts read side follows (as the read model's checkpoints name them).
IDENTITY: Final = "identity"
CONSENT: Final = "consent"
