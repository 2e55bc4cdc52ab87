"""The one typed checker: values checked against dataclass annotations, errors naming the field as data.

Two kinds of classes are checked with it:

- *records* (rundir/events.py, records.py): what a run directory's JSON holds. `record_spec(cls).build(obj)`
  checks a parsed JSON object field by field and returns an instance whose values have exactly the
  annotated types, or raises `FieldError` naming the field. Whatever a file holds, a reader gets a
  well-typed record or a short reason to skip it.
- *settings* (hrm_core.config.schema.TrainConfig, the architectures' configs in hrm_core.models): what a user
  writes. `check_settings(cls, data)` builds one from a mapping, refusing unknown and missing keys, and raises
  `SettingError`, whose `key` is the dotted key at fault. A settings field is declared with `setting(...)`,
  which carries its one-line help; its range is part of its annotation, so the field, its default, its
  range and its help are one declaration that the validator, the form and the docs all read.

Supported annotations:

    int, float, str, bool             int excludes bool and must fit in 64 bits; float accepts ints and the
                                      strings "nan", "inf", "-inf" (how the writer stores non-finite numbers)
                                      and gives a float (in dict[str, float] an int stays an int)
    X | None                          null (or an absent field, when the field has a default) is allowed
    list[X], dict[str, X]             every element checked
    JSONObject                        any JSON object, not looked into (a config)
    a str Enum                        one of its values
    another record class              a nested object
    Annotated[X, Minimum(m), ...]     constraints: Minimum, Maximum, Above, Below, Length, Finite, OneOf;
                                      Says("...") words what a failed one means ("must be <words>")

Why not pydantic: a monitor checks up to a million `train` lines when it opens a day-long run; this costs
about a microsecond per field, and it has no dependency.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

INT64_LIMIT = 2**63
_MAX_FLOAT_INT = 2**1023  # ints beyond this do not convert to a float

# The strings non-finite floats are stored as (the writer uses the first three).
NONFINITE_STRINGS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "+inf": math.inf,
                     "NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

JSONObject = dict[str, Any]  # any JSON object: checked to be an object, its content left alone


class FieldError(ValueError):
    """A field that does not fit its record. `problem` is short and holds no value from the file; `path`
    names the field (`("samples", "input")`); `reason` is both, e.g. "samples.input: expected a list of
    integers"."""

    def __init__(self, problem: str, path: tuple[str, ...] = ()):
        self.problem = problem
        self.path = path
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return f"{'.'.join(self.path)}: {self.problem}" if self.path else self.problem


@dataclass(frozen=True)
class Minimum:
    value: float


@dataclass(frozen=True)
class Maximum:
    value: float


@dataclass(frozen=True)
class Length:
    """A list's length must be exactly `value`."""

    value: int


@dataclass(frozen=True)
class OneOf:
    """The value must be one of these (a subset of an enum's members)."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Finite:
    """A float that must not be NaN or infinite (times, durations)."""


@dataclass(frozen=True)
class Above:
    """The value must be greater than `value` (an exclusive lower bound)."""

    value: float


@dataclass(frozen=True)
class Below:
    """The value must be less than `value` (an exclusive upper bound)."""

    value: float


@dataclass(frozen=True)
class Says:
    """What the constraints of one annotation mean together, for its error: "must be <words>"."""

    words: str


def json_field(name: str, **kwargs: Any) -> Any:
    """A dataclass field stored under another JSON key (`from` is a Python keyword)."""
    return dataclasses.field(metadata={"json": name}, **kwargs)


def json_key(f: dataclasses.Field) -> str:
    return f.metadata.get("json", f.name)


# ---------------------------------------------------------------------------------------------------------
# Checkers: value -> value of the annotated type, or FieldError. Called with the value of a present field.

Checker = Callable[[Any], Any]


def check_int(value: Any) -> int:
    if type(value) is int and -INT64_LIMIT <= value < INT64_LIMIT:
        return value
    raise FieldError("expected an integer")


def check_float(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int and -_MAX_FLOAT_INT < value < _MAX_FLOAT_INT:
        return float(value)
    if kind is str:
        number = NONFINITE_STRINGS.get(value)
        if number is not None:
            return number
    raise FieldError("expected a number")


def check_str(value: Any) -> str:
    if type(value) is str:
        return value
    raise FieldError("expected a string")


def check_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise FieldError("expected true or false")


def check_object(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise FieldError("expected an object")


def check_int_list(value: Any) -> list[int]:
    """A list of ints (fast: one pass, no copy). Used for token lists of thousands of elements."""
    if type(value) is list and all(type(v) is int for v in value):
        if not value or (-INT64_LIMIT <= min(value) and max(value) < INT64_LIMIT):
            return value
    raise FieldError("expected a list of integers")


def check_float_dict(value: Any) -> dict[str, float]:
    """An object of numbers (metrics). Returned as is (no copy) when every value is already a float or an
    int that converts to one; the non-finite strings are converted."""
    if type(value) is not dict:
        raise FieldError("expected an object of numbers")
    for v in value.values():
        kind = type(v)
        if kind is not float and (kind is not int or not -_MAX_FLOAT_INT < v < _MAX_FLOAT_INT):
            break
    else:
        return value
    try:
        return {k: check_float(v) for k, v in value.items()}
    except FieldError:
        raise FieldError("expected an object of numbers") from None


_SIMPLE: dict[Any, Checker] = {int: check_int, float: check_float, str: check_str, bool: check_bool}


def _plural(tp: Any) -> str:
    """What a list or object of `tp` holds, in words: "strings", "numbers", "Sample objects"."""
    words = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
    base = typing.get_args(tp)[0] if typing.get_origin(tp) is Annotated else tp
    if base in words:
        return words[base]
    if typing.get_origin(base) in (list, dict):
        return "lists" if typing.get_origin(base) is list else "objects"
    return f"{getattr(base, '__name__', 'valid')} objects"


def _optional(inner: Checker) -> Checker:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


def _list_of(inner: Checker, what: str) -> Checker:
    def check(value: Any) -> list[Any]:
        if type(value) is not list:
            raise FieldError(f"expected a list of {what}")
        try:
            return [inner(v) for v in value]
        except FieldError as e:
            if e.path:  # inside a nested record: keep its field's name
                raise
            raise FieldError(f"expected a list of {what}") from None

    return check


def _dict_of(inner: Checker, what: str) -> Checker:
    def check(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise FieldError(f"expected an object of {what}")
        try:
            return {k: inner(v) for k, v in value.items()}
        except FieldError as e:
            if e.path:
                raise
            raise FieldError(f"expected an object of {what}") from None

    return check


def _enum(cls: type[Enum]) -> Checker:
    by_value = {member.value: member for member in cls}
    allowed = ", ".join(str(v) for v in by_value)

    def check(value: Any) -> Enum:
        member = by_value.get(value) if type(value) is str else None
        if member is None:
            raise FieldError(f"expected one of {allowed}")
        return member

    return check


def _int_bounds(tp: Any) -> tuple[float, float] | None:
    """(low, high) when `tp` is an int annotated only with Minimum/Maximum, else None."""
    if typing.get_origin(tp) is not Annotated or typing.get_args(tp)[0] is not int:
        return None
    low, high = -math.inf, math.inf
    for c in typing.get_args(tp)[1:]:
        if isinstance(c, Minimum):
            low = c.value
        elif isinstance(c, Maximum):
            high = c.value
        else:
            return None
    return low, high


def _bounded_int_list(low: float, high: float, what: str) -> Checker:
    def check(value: Any) -> list[int]:
        value = check_int_list(value)
        if value and not (low <= min(value) and max(value) <= high):
            raise FieldError(f"expected a list of {what}" + (f" of at least {low:g}" if low > -math.inf else "")
                             + (f" and at most {high:g}" if high < math.inf else ""))
        return value

    return check


def _constrained(inner: Checker, constraints: tuple[Any, ...]) -> Checker:
    says = next((c.words for c in constraints if isinstance(c, Says)), None)

    def check(value: Any) -> Any:
        value = inner(value)
        if says is None:
            return _within(value, constraints)
        try:
            return _within(value, constraints)
        except FieldError:
            raise FieldError(f"must be {says}") from None

    return check


def _within(value: Any, constraints: tuple[Any, ...]) -> Any:
    for c in constraints:
        if isinstance(c, Minimum) and not value >= c.value:
            raise FieldError(f"must be at least {c.value:g}")
        if isinstance(c, Maximum) and not value <= c.value:
            raise FieldError(f"must be at most {c.value:g}")
        if isinstance(c, Above) and not value > c.value:
            raise FieldError(f"must be more than {c.value:g}")
        if isinstance(c, Below) and not value < c.value:
            raise FieldError(f"must be less than {c.value:g}")
        if isinstance(c, Length) and len(value) != c.value:
            raise FieldError(f"must hold exactly {c.value} values")
        if isinstance(c, Finite) and not math.isfinite(value):
            raise FieldError("must be a finite number")
        if isinstance(c, OneOf) and value not in c.values:
            raise FieldError(f"must be one of {', '.join(str(v) for v in c.values)}")
    return value


def checker_for(tp: Any) -> Checker:
    """The checker of one annotation (see the module docstring for what is supported)."""
    if tp in _SIMPLE:
        return _SIMPLE[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _constrained(checker_for(args[0]), tuple(args[1:]))
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1 or len(args) != 2:
            raise TypeError(f"unsupported union {tp!r}: only X | None")
        return _optional(checker_for(inner[0]))
    if origin is list:
        (item,) = args
        if item is int:
            return check_int_list
        bounds = _int_bounds(item)
        if bounds is not None:  # list[Annotated[int, Minimum(..)]]: counts; checked with min/max, not per element
            return _bounded_int_list(*bounds, _plural(item))
        return _list_of(checker_for(item), _plural(item))
    if origin is dict:
        key, value = args
        if key is not str:
            raise TypeError(f"unsupported dict key type in {tp!r}")
        if value is Any:
            return check_object
        if value is float:
            return check_float_dict
        return _dict_of(checker_for(value), _plural(value))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum(tp)
    if dataclasses.is_dataclass(tp):
        spec = record_spec(tp)

        def check_record(value: Any) -> Any:
            if type(value) is not dict:
                raise FieldError("expected an object")
            return spec.build(value)

        return check_record
    raise TypeError(f"unsupported annotation {tp!r}")


# ---------------------------------------------------------------------------------------------------------
# Records


_MISSING = object()


@dataclass(frozen=True)
class FieldSpec:
    attr: str  # the dataclass attribute
    key: str  # the JSON key
    check: Checker
    required: bool


class RecordSpec:
    """How to check a JSON object into one record class (built once per class, see record_spec)."""

    def __init__(self, cls: type):
        self.cls = cls
        hints = typing.get_type_hints(cls, include_extras=True)
        self.fields: list[FieldSpec] = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            self.fields.append(FieldSpec(f.name, json_key(f), checker_for(hints[f.name]), required))

    def build(self, obj: dict[str, Any]) -> Any:
        """An instance of the record from a parsed JSON object; FieldError names the first bad field."""
        kwargs = {}
        for spec in self.fields:
            value = obj.get(spec.key, _MISSING)
            if value is _MISSING:
                if spec.required:
                    raise FieldError("missing", (spec.key,))
                continue
            try:
                kwargs[spec.attr] = spec.check(value)
            except FieldError as e:
                raise FieldError(e.problem, (spec.key, *e.path)) from None
        return self.cls(**kwargs)

    def build_lenient(self, obj: dict[str, Any]) -> tuple[Any, list[str]]:
        """Like `build`, but a field that does not fit is left at its default instead of failing the whole
        record; returns (record, reasons of the fields left out). For files with independent facts
        (launch.json): a bad `pid` must not hide a good `overrides`. Every field needs a default."""
        kwargs, rejected = {}, []
        for spec in self.fields:
            value = obj.get(spec.key, _MISSING)
            if value is _MISSING:
                if spec.required:
                    rejected.append(f"{spec.key}: missing")
                continue
            try:
                kwargs[spec.attr] = spec.check(value)
            except FieldError as e:
                rejected.append(FieldError(e.problem, (spec.key, *e.path)).reason)
        try:
            return self.cls(**kwargs), rejected
        except TypeError:  # a required field was rejected
            return None, rejected


_SPECS: dict[type, RecordSpec] = {}


def record_spec(cls: type) -> RecordSpec:
    spec = _SPECS.get(cls)
    if spec is None:
        spec = _SPECS[cls] = RecordSpec(cls)
    return spec


_SCALARS = (str, int, float, bool, type(None))


def to_json_value(value: Any) -> Any:
    """A record (or anything in one) as plain JSON values: nested records as objects, enums as their values.

    Non-finite floats stay floats here; the event writer stores them as strings.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list and all(type(item) in _SCALARS for item in value):  # token lists, counts: no recursion
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.default is None:
                continue  # an unset optional field is left out of the line
            out[json_key(f)] = to_json_value(item)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------
# Settings: classes a user writes (the training config, each architecture's config)


def setting(default: Any = dataclasses.MISSING, *, help: str, factory: Callable[[], Any] | None = None,
            **facts: Any) -> Any:
    """A field of a settings class: its default, its one-line help (which does not restate the default: readers
    show the default beside it), and further facts for a reader, e.g. `section=` (the form's section),
    `convert=` (a function `(key, raw value) -> value` applied before the type is checked), `choose=` and
    `variants=` (for a nested settings field whose class depends on its content: the class to build from the
    raw mapping, and the classes it may be for a given name) or `written_unless=V` (settings_to_dict leaves
    the key out while its value is V)."""
    metadata = {"help": help, **facts}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_NO_VALUE = object()


class SettingError(ValueError):
    """A settings value refused. `key` is the dotted key at fault, as data (never parsed back from the text);
    `problem` says what is wrong ("must be at least 1", "expected an integer", or a whole sentence for a
    check across keys), `value` is the value refused (when there is one), `hint` how to fix it. `unknown`
    marks a key the class does not have."""

    def __init__(self, key: str, problem: str, *, value: Any = _NO_VALUE, hint: str = "", unknown: bool = False):
        self.key = key
        self.problem = problem
        self.value = value
        self.hint = hint
        self.unknown = unknown
        super().__init__(self.describe() + (f" ({hint})" if hint else ""))

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE

    def describe(self, source: str | None = None) -> str:
        """The message; `source` (e.g. "the override 'lr=-1'") names where the value came from."""
        if not self.has_value:
            return self.problem
        if self.problem.startswith("expected"):  # a value of the wrong type
            where = source or f"`{self.key}: {self.value!r}`"
            return f"{where}: {self.problem}, got {type(self.value).__name__} {self.value!r}"
        return f"`{self.key}` {self.problem}, got {self.value!r}" + (f" ({source})" if source else "")


def settings_fields(cls: type) -> list[dataclasses.Field]:
    """The fields a user sets (those with `setting` help), in declaration order."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def check_settings(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    """An instance of the settings class `cls` from a mapping; raises SettingError naming the dotted key.

    A class whose `NULL_MEANS_DEFAULT` is true reads a null value as "unset" (the key's default; a null key it
    does not take is dropped): the architectures' configs, whose older all_config.yaml wrote null for unset
    keys. A class may word the refusal of a key it does not take (`refuse_key(name, prefix) -> SettingError`).
    The instance's own `__post_init__` runs the checks across keys (and raises SettingError too).
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    fields_by_name = {f.name: f for f in settings_fields(cls)}
    null_is_unset = getattr(cls, "NULL_MEANS_DEFAULT", False)
    data = {k: v for k, v in data.items() if not (null_is_unset and v is None)}
    for name in data:
        if name not in fields_by_name:
            refuse = getattr(cls, "refuse_key", None)
            raise (refuse(str(name), prefix) if refuse else unknown_setting(str(name), list(fields_by_name), prefix))
    kwargs = {}
    for name, f in fields_by_name.items():
        key = f"{prefix}{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SettingError(key, f"required key `{key}` is missing",
                                   hint=f"set it, e.g. {key}=... ({f.metadata['help']})")
            continue
        value = data[name]
        if "convert" in f.metadata:
            value = f.metadata["convert"](key, value)
        nested = f.metadata.get("choose") or (hints[name] if dataclasses.is_dataclass(hints[name]) else None)
        if nested is not None:
            if not isinstance(value, Mapping):
                raise SettingError(key, f"`{key}` must be a section of keys, got {value!r}")
            nested_cls = nested(value) if "choose" in f.metadata else nested
            kwargs[name] = check_settings(nested_cls, value, f"{key}.")
            continue
        value = list(value) if isinstance(value, tuple) else value
        try:
            kwargs[name] = checker_for(hints[name])(value)
        except FieldError as e:
            raise SettingError(key, e.problem, value=_as_typed(hints[name], value),
                               hint=f"{key}: {f.metadata['help']}") from None
    return cls(**kwargs)


def _as_typed(tp: Any, value: Any) -> Any:
    """The value as its type has it (0 -> 0.0 for a float) when only its range was refused, for the message."""
    if typing.get_origin(tp) is Annotated:
        try:
            return checker_for(typing.get_args(tp)[0])(value)
        except FieldError:
            pass
    return value


def unknown_setting(name: str, known: list[str], prefix: str = "") -> SettingError:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"did you mean `{prefix}{close[0]}`?" if close else ""
    return SettingError(f"{prefix}{name}", f"unknown key `{prefix}{name}`", hint=hint, unknown=True)


def settings_to_dict(settings: Any) -> dict[str, Any]:
    """A settings instance as plain nested dicts: every setting with its value (nested settings as dicts). A
    field declared with `written_unless=V` is left out while its value is V (a value only this implementation
    gives a meaning to)."""
    out = {}
    for f in settings_fields(type(settings)):
        value = getattr(settings, f.name)
        if "written_unless" in f.metadata and value == f.metadata["written_unless"]:
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = settings_to_dict(value)
        elif isinstance(value, list):
            value = [dict(v) if isinstance(v, dict) else v for v in value]
        out[f.name] = value
    return out
