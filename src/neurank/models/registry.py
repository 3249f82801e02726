"""Modules that record how to rebuild themselves: class name + constructor arguments.

A registered module keeps its constructor's arguments in `init_args`; checkpoints store
`module_spec(module)`, and `build_module(spec)` makes an untrained twin to load weights into,
so loading a trained model needs no knowledge from the caller.
"""

from __future__ import annotations

from typing import Any, TypeVar

from torch import nn

_MODULES: dict[str, type[nn.Module]] = {}
M = TypeVar("M", bound=type[nn.Module])


def register_module(cls: M) -> M:
    """Class decorator: the class can be rebuilt from a checkpoint's module spec."""
    _MODULES[cls.__qualname__] = cls
    return cls


def module_spec(module: nn.Module) -> dict[str, Any] | None:
    """{"class", "args"} for a registered module that recorded its `init_args`, else None."""
    name = type(module).__qualname__
    args = getattr(module, "init_args", None)
    if _MODULES.get(name) is not type(module) or args is None:
        return None
    return {"class": name, "args": args}


def build_module(spec: dict[str, Any]) -> nn.Module:
    """A new module from a spec written by `module_spec`."""
    cls = _MODULES.get(spec.get("class", ""))
    if cls is None:
        raise KeyError(f"no registered module class {spec.get('class')!r} "
                       f"(known: {sorted(_MODULES)})")
    return cls(**spec["args"])
