"""Checking parsed JSON against a typed record: what makes every reader of a run directory crash-proof.

The checker itself is hrm_core.checking (the project's one typed checker, which also checks the training
config); this module keeps the names the run-directory readers and writers import from here.
"""

from hrm_core.checking import (
    INT64_LIMIT,
    NONFINITE_STRINGS,
    Checker,
    FieldError,
    FieldSpec,
    Finite,
    JSONObject,
    Length,
    Maximum,
    Minimum,
    OneOf,
    RecordSpec,
    check_bool,
    check_float,
    check_float_dict,
    check_int,
    check_int_list,
    check_object,
    check_str,
    checker_for,
    json_field,
    json_key,
    record_spec,
    to_json_value,
)

__all__ = [
    "INT64_LIMIT", "NONFINITE_STRINGS", "Checker", "FieldError", "FieldSpec", "Finite", "JSONObject", "Length",
    "Maximum", "Minimum", "OneOf", "RecordSpec", "check_bool", "check_float", "check_float_dict", "check_int",
    "check_int_list", "check_object", "check_str", "checker_for", "json_field", "json_key", "record_spec",
    "to_json_value",
]
