import pytest

from lemmaflow.tools.steps import join_steps, split_steps


def test_blank_line_runs_and_crlf_are_one_separator():
    text = "a = 1\r\n\r\n\n  \nb = 2\n\n\nso 3\n"
    assert split_steps(text) == ["a = 1", "b = 2", "so 3"]


def test_single_newline_stays_inside_a_step_by_default():
    assert split_steps("line 1\nline 2\n\nstep 2") == ["line 1\nline 2", "step 2"]


def test_custom_delimiter_and_roundtrip():
    steps = split_steps("x ## y ##  ## z", delimiter="##")
    assert steps == ["x", "y", "z"]
    assert split_steps(join_steps(steps, "##"), "##") == steps


def test_empty_delimiter_is_an_error():
    with pytest.raises(ValueError):
        split_steps("a", delimiter="")
