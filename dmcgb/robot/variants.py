"""The robot scenes' appearance settings, one per variant, as data.

A variant changes how the scene looks and nothing else: the skybox, the floor, the table and
the task objects (goal disc, peg, string, box) are coloured by the variant's RGB tint, and the
table gets the variant's surface texture. The robot, the physics and the camera are the same in
every variant.

How the tint is applied (see ``scene.py``):

* surfaces (skybox, floor, table): colour = base colour x tint, like a coloured light on them;
* task objects: colour = base colour x (1 + tint) / 2, half-way, so that the goal disc stays
  recognisable as the same object in every variant.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmcgb.errors import UnknownTask

__all__ = ["Variant", "VARIANTS", "ROBOT_VARIANTS", "TABLE_SURFACES", "get_variant"]

RGB = tuple[float, float, float]

# Table surface textures that ``textures.py`` can make.
TABLE_SURFACES: tuple[str, ...] = ("smooth", "carpet", "concrete", "wood", "sponge")


@dataclass(frozen=True)
class Variant:
    """How one variant of the robot scenes looks.

    Attributes:
        name: ``"train"`` or ``"test1"`` .. ``"test5"``.
        tint: RGB multiplier in [0, 1] for skybox, floor, table and task objects.
        table_surface: one of ``TABLE_SURFACES``.
    """

    name: str
    tint: RGB
    table_surface: str


# Tints and surfaces of the five test scenes follow the table; train is untinted.
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("train", (1.0, 1.0, 1.0), "smooth"),
        Variant("test1", (1.0, 0.5, 1.0), "smooth"),
        Variant("test2", (0.5, 0.9, 0.8), "carpet"),
        Variant("test3", (0.5, 0.1, 0.1), "concrete"),
        Variant("test4", (0.1, 0.5, 0.8), "wood"),
        Variant("test5", (0.3, 0.2, 0.0), "sponge"),
    )
}

ROBOT_VARIANTS: tuple[str, ...] = tuple(VARIANTS)


def get_variant(name: str) -> Variant:
    """Return the variant called `name`.

    Raises:
        UnknownTask: `name` is not one of ``ROBOT_VARIANTS``.
    """
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownTask(
            f"unknown robot variant {name!r}; expected one of {', '.join(ROBOT_VARIANTS)}"
        ) from None
