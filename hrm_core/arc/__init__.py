"""ARC-specific evaluation: de-augmenting predictions, voting, pass@K and ARC Prize submissions.

See `hrm_core.arc.scoring` for the method and docs/evaluation.md for how to run it.
"""

from hrm_core.arc.scoring import (
    PASS_AT_KS,
    ARCReferences,
    ARCScores,
    Augmentation,
    VoteTally,
    VotingRule,
    crop_at_eos,
    load_references,
    make_submission,
    parse_puzzle_name,
    score,
)

__all__ = [
    "PASS_AT_KS",
    "ARCReferences",
    "ARCScores",
    "Augmentation",
    "VoteTally",
    "VotingRule",
    "crop_at_eos",
    "load_references",
    "make_submission",
    "parse_puzzle_name",
    "score",
]
