"""Hydra override grammar: every value the launcher writes reads back, through Hydra's own parser, as the
same value of the same type; the minimal list holds only real changes; shell lines quote what they must."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from hrm_tui.forms.overrides import (
    Edit,
    OverrideSyntaxError,
    format_override,
    format_value,
    minimal_overrides,
    parse_overrides,
    parse_value,
    single_line,
    split_override,
)

PARSER = OverridesParser.create()


def hydra_reads(override: str):
    """What Hydra itself makes of an override: (key, add?, value)."""
    parsed = PARSER.parse_override(override)
    return parsed.key_or_group, parsed.is_add(), parsed.value()


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (1e-4, "0.0001"),
        (512, "512"),
        (True, "true"),
        (None, "null"),
        ("data/arc-aug-1000", "data/arc-aug-1000"),
        ("hello world", "'hello world'"),
        ("x; rm -rf ~", "'x; rm -rf ~'"),
        ("true", "'true'"),  # a string that would read as a bool
        ("null", "'null'"),
        ("1e-4", "'1e-4'"),  # a string that would read as a float
        ("it's", "'it\\'s'"),
        ("", "''"),
        ("${.hidden_size}", "${.hidden_size}"),  # an interpolation stays one
        ([1, "a b", None], "[1,'a b',null]"),
        ([], "[]"),
        ({"a": 1}, "{a:1}"),
        (float("inf"), "inf"),
    ],
)
def test_values_are_written_in_hydra_grammar_and_read_back_unchanged(value, written):
    assert format_value(value) == written
    key, _, read = hydra_reads(f"k={written}")
    assert key == "k"
    assert read == value and type(read) is type(value)


@pytest.mark.parametrize("text", ["a\\", "a\\'b", 'say "hi" it\'s', " pad ", "é", "x=y", "a,b", "~/data", "[not a list"])
def test_awkward_strings_round_trip(text):
    _, _, read = hydra_reads(f"k={format_value(text)}")
    assert read == text


def test_a_typed_number_keeps_its_spelling():
    assert format_value(7e-5, "7e-5") == "7e-5"
    assert format_value(256, " 256 ") == "256"
    # Text that reads back as something else is not trusted.
    assert format_value(7e-5, "0.001") == repr(7e-5)


def test_nan_round_trips():
    assert math.isnan(hydra_reads(f"k={format_value(float('nan'))}")[2])


def test_new_keys_get_the_plus_form():
    assert format_override("log_interval", 10, add=True) == "+log_interval=10"
    key, add, value = hydra_reads("+log_interval=10")
    assert (key, add, value) == ("log_interval", True, 10)


def test_minimal_overrides_keep_only_changes_in_edit_order():
    defaults = {"lr": 1e-4, "arch.hidden_size": 512, "arch.puzzle_emb_ndim": "${.hidden_size}", "epochs": 100}
    edits = {
        "lr": Edit(7e-5, "7e-5"),
        "epochs": Edit(100, "100"),  # equal to the default: no override
        "arch.hidden_size": Edit(256, "256"),
        "arch.puzzle_emb_ndim": Edit("${.hidden_size}"),  # still the same interpolation
        "seed": Edit(3, "3"),  # not in the config: Hydra's add form
    }
    assert minimal_overrides(defaults, edits) == ["lr=7e-5", "arch.hidden_size=256", "+seed=3"]


def test_minimal_overrides_compare_types_not_just_equality():
    # True == 1 in Python, but a bool default edited to the int 1 is a change; 4 and 4.0 are the same number.
    assert minimal_overrides({"a": True, "b": 4.0}, {"a": Edit(1), "b": Edit(4)}) == ["a=1"]


def test_present_keys_decide_the_plus_form():
    defaults = {"lr": 1e-4, "log_interval": 1}
    edits = {"lr": Edit(1e-3), "log_interval": Edit(5)}
    assert minimal_overrides(defaults, edits, present={"lr"}) == ["lr=0.001", "+log_interval=5"]


def test_parse_overrides_inverts_the_formatter():
    overrides = ["lr=7e-5", "+run_name='a b'", "arch.loss.loss_type=softmax_cross_entropy", "eval_save_outputs=[inputs,labels]"]
    edits = parse_overrides(overrides)
    assert edits["lr"].value == 7e-5
    assert edits["run_name"].value == "a b"
    assert edits["eval_save_outputs"].value == ["inputs", "labels"]
    assert minimal_overrides({}, edits, present={"lr", "arch.loss.loss_type", "eval_save_outputs"}) == overrides


def test_bad_text_is_a_clear_error():
    with pytest.raises(OverrideSyntaxError, match="not a valid Hydra value"):
        parse_value("[1")
    with pytest.raises(OverrideSyntaxError, match="sweep"):
        parse_value("a,b")
    with pytest.raises(OverrideSyntaxError, match="expected key=value"):
        split_override("lr")


def test_split_override():
    assert split_override("+arch.loss.loss_type=x") == ("+", "arch.loss.loss_type", "x")
    assert split_override("++a=b=c") == ("++", "a", "b=c")
    assert split_override("~a") == ("~", "a", "")


def test_single_line_survives_a_real_shell():
    argv = ["lr=7e-5", "+run_name='a b'", format_override("note", "x; rm -rf ~"), "it's $HOME", "", "[1,2]"]
    line = single_line(argv)
    assert shlex.split(line) == argv
    # And a POSIX shell given the line passes the same argv on, without running anything in it.
    echoed = subprocess.run(
        ["sh", "-c", f"{shlex.quote(sys.executable)} -c 'import json,sys; print(json.dumps(sys.argv[1:]))' {line}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert echoed.strip() == json.dumps(argv)


def test_single_line_is_readable_for_hydra_quotes():
    assert single_line(["+run_name='a b'"]) == "\"+run_name='a b'\""
