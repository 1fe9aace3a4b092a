"""A fast yes/no gate for unknown fields, mirroring `schemas.base.unknown_fields`.

`unknown_fields` walks pydantic's field metadata for every key of every event; on the
batch hot path that walk cost more than validation itself. The plan of each model (its
field names and which of them hold nested contracts) is computed once here. Only the
answer "are there any?" comes from this module: when it says yes, intake calls
`parse_event(..., refuse_unknown_fields=True)` for the authoritative error list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class _Plan:
    names: frozenset[str]
    nested: dict[str, tuple[bool, type[BaseModel]]]  # field -> (is a list, nested model)


_PLANS: dict[type[BaseModel], _Plan] = {}


def _plan(model: type[BaseModel]) -> _Plan:
    plan = _PLANS.get(model)
    if plan is None:
        nested: dict[str, tuple[bool, type[BaseModel]]] = {}
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                nested[name] = (False, annotation)
            elif get_origin(annotation) is list:
                (item,) = get_args(annotation)
                if isinstance(item, type) and issubclass(item, BaseModel):
                    nested[name] = (True, item)
        plan = _Plan(frozenset(model.model_fields), nested)
        _PLANS[model] = plan
    return plan


def has_unknown_fields(model: type[BaseModel], raw: Any) -> bool:
    """True when `raw` has a key that `model` (or a nested contract) does not know."""
    if not isinstance(raw, dict):
        return False
    plan = _plan(model)
    if not plan.names.issuperset(raw):
        return True
    for name, (is_list, nested) in plan.nested.items():
        value = raw.get(name)
        if is_list:
            if isinstance(value, list) and any(has_unknown_fields(nested, v) for v in value):
                return True
        elif has_unknown_fields(nested, value):
            return True
    return False
