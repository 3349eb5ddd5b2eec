"""Readable run names (``bold-heron-42``) when the user gives none."""

from __future__ import annotations

import random

_ADJ = (
    "amber bold brave bright calm clever crisp eager fast fierce gentle glad grand keen kind lively "
    "lucky merry mighty neat nimble noble proud quick quiet rapid sharp shy sleek smart snappy steady "
    "sunny swift tidy vivid warm wise witty zesty"
).split()
_NOUN = (
    "albatross badger beaver bison crane dolphin eagle falcon ferret finch fox gecko heron ibis jaguar "
    "koala lemur lynx marten moose narwhal newt orca otter owl panda puffin quail raven robin seal "
    "shark sparrow stork swan tapir tern tiger toucan walrus whale wolf wren yak zebra"
).split()


def run_name() -> str:
    return f"{random.choice(_ADJ)}-{random.choice(_NOUN)}-{random.randint(1, 999)}"
