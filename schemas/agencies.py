"""Every agency code an event names, found from the contracts' `AgencyCode` fields.

A credential is scoped to agencies; an event may name more than its envelope's
`agencycode` (an audit finding names the audited agency). The paths are derived once per
model by walking its fields for the `AgencyField` marker, so a new agency field in any
family is covered without a list to maintain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from operator import attrgetter
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from schemas.base import AgencyField

# ("data", "audited_agency"); an int step indexes into a list, "*" means every item.
AgencyPath = tuple[str, ...]


@cache
def agency_paths(model: type[BaseModel]) -> tuple[AgencyPath, ...]:
    """The path of every field of `model` (nested contracts and lists included) naming an agency."""
    paths: list[AgencyPath] = []
    for name, field in model.model_fields.items():
        if _names_agency(field.metadata):
            paths.append((name,))
            continue
        if get_origin(field.annotation) is list:
            (item,) = get_args(field.annotation)
            if get_origin(item) is Annotated and _names_agency(item.__metadata__):
                paths.append((name, "*"))
                continue
        for nested, suffix in _nested_models(field.annotation):
            paths.extend((name, *suffix, *inner) for inner in agency_paths(nested))
    return tuple(paths)


def agency_codes(event: BaseModel) -> Iterator[tuple[str, str]]:
    """(dotted field path, agency code) for every agency the event names."""
    for path in agency_paths(type(event)):
        yield from _values(event, path, "")


def agency_values(event: BaseModel) -> tuple[str | None, ...]:
    """The agency codes the event names (None for an absent optional one): the hot path's."""
    model = type(event)
    read = _READERS.get(model)
    if read is None:
        read = _READERS[model] = _reader(model)
    return read(event)


AgencyReader = Callable[[BaseModel], tuple[str | None, ...]]
_READERS: dict[type[BaseModel], AgencyReader] = {}


def _reader(model: type[BaseModel]) -> AgencyReader:
    paths = agency_paths(model)
    if any("*" in path for path in paths) or any(_optional_steps(model, p) for p in paths):
        # Through a list or an optional nested contract: the general walk.
        return lambda event: tuple(code for _, code in agency_codes(event))
    if len(paths) == 1 and len(paths[0]) == 1:
        (name,) = paths[0]
        return lambda event: (getattr(event, name),)
    if len(paths) == 1:
        one = attrgetter(".".join(paths[0]))
        return lambda event: (one(event),)
    # attrgetter reads dotted paths in C and, given several, returns a tuple.
    several: AgencyReader = attrgetter(*(".".join(path) for path in paths))
    return several


def _optional_steps(model: type[BaseModel], path: AgencyPath) -> bool:
    """Whether a contract on the way to the field may be absent."""
    for step in path[:-1]:
        annotation = model.model_fields[step].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return True
        model = annotation
    return False


def _values(value: Any, path: AgencyPath, prefix: str) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if not path:
        yield prefix.removesuffix("."), value
        return
    step, rest = path[0], path[1:]
    if step == "*":
        for index, item in enumerate(value):
            yield from _values(item, rest, f"{prefix}{index}.")
    else:
        yield from _values(getattr(value, step), rest, f"{prefix}{step}.")


def _names_agency(metadata: Any) -> bool:
    return any(isinstance(marker, AgencyField) for marker in metadata)


def _nested_models(annotation: Any) -> Iterator[tuple[type[BaseModel], tuple[str, ...]]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ()
    elif get_origin(annotation) in (Union, UnionType):
        for member in get_args(annotation):
            if member is not NoneType:
                yield from _nested_models(member)
    elif get_origin(annotation) is list:
        (item,) = get_args(annotation)
        for nested, suffix in _nested_models(item):
            yield nested, ("*", *suffix)
