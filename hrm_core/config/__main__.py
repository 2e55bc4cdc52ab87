"""`python -m hrm_core.config [--arch NAME]`: every config key with its type, default and help.

The reference an installed user has (a wheel ships no docs/ folder): error hints point here. It reads the
schema (hrm_core.config.schema, and each architecture's config class for the `arch.*` keys).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from hrm_core.config.schema import schema_fields, section_rank
    from hrm_core.models.registry import MODELS

    parser = argparse.ArgumentParser(prog="python -m hrm_core.config",
                                     description="Every key of the training config (python -m hrm_core.pretrain KEY=VALUE).")
    parser.add_argument("--arch", default=None, metavar="NAME",
                        help="list the arch.* keys of this architecture only (a name arch.name takes)")
    args = parser.parse_args(argv)
    if args.arch is not None and args.arch not in MODELS:
        parser.error(f"--arch {args.arch!r} is not a known model; choose one of: {', '.join(MODELS)}")
    infos = sorted(schema_fields(args.arch), key=lambda info: section_rank(info.section))
    section = None
    for info in infos:
        if info.section != section:
            section = info.section
            print(f"\n[{section}]")
        default = "set by the config tree" if info.default is dataclasses.MISSING else f"default {info.default!r}"
        choices = f"; one of {', '.join(info.choices)}" if info.choices else ""
        print(f"  {info.key}  ({info.type_name}, {default}{choices})\n      {info.help}")
    print(f"\narch.name takes: {', '.join(MODELS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
