"""Coq text utilities: sentence splitting, statements, forbidden commands (no Coq needed)."""

import pytest

from lemmaflow.tools.provers.coq_text import (
    CoqSyntaxError,
    declares,
    forbidden_command,
    line_col,
    parse_statement,
    split_sentences,
)


def texts(src):
    return [s.text for s in split_sentences(src)]


def test_split_bullets_braces_comments_strings():
    src = 'Proof.\n  - intros. { lia. }\n  + (* a "*)" trick *) auto.\n  ** idtac "a. b".\nQed.'
    assert texts(src) == ["Proof.", "-", "intros.", "{", "lia.", "}", "+", "auto.", "**", 'idtac "a. b".', "Qed."]


def test_split_keeps_qualified_names_and_offsets():
    src = "Check Coq.Init.Nat.add.  Check x.(y)."
    sents = split_sentences(src)
    assert [s.text for s in sents] == ["Check Coq.Init.Nat.add.", "Check x.(y)."]
    assert src[sents[1].start:sents[1].end] == sents[1].text


@pytest.mark.parametrize("src,offset", [("Proof. (* open\n lia.", 7), ('idtac "abc', 6), ("Proof. lia", 7)])
def test_split_unterminated(src, offset):
    with pytest.raises(CoqSyntaxError) as e:
        split_sentences(src)
    assert e.value.offset == offset


def test_statement_parts():
    s = parse_statement("Theorem mathd_algebra_123\n  (a b : nat)\n  (h₀ : a + b = 20) :\n  a - b = 10.")
    assert (s.name, s.binders, s.type) == ("mathd_algebra_123", "(a b : nat) (h₀ : a + b = 20)", "a - b = 10")
    assert s.as_type() == "forall (_ : unit) (a b : nat) (h₀ : a + b = 20), a - b = 10"
    s2 = parse_statement("Lemma t: forall x : R, x = x.")
    assert (s2.name, s2.binders, s2.type) == ("t", "", "forall x : R, x = x")
    with pytest.raises(ValueError):
        parse_statement("Definition t := 1.")


@pytest.mark.parametrize("sentence,cmd", [
    ("Drop.", "Drop"), ("Quit.", "Quit"), ('Load "/etc/passwd".', "Load"), ('Cd "/tmp".', "Cd"),
    ('Fail Time Redirect "out" Print nat.', "Redirect"), ('#[local] Declare ML Module "x".', "Declare ML Module"),
    ('Add Rec LoadPath "/tmp" as X.', "Add Rec LoadPath"), ("Reset Initial.", "Reset"), ("BackTo 3.", "BackTo"),
    ('Extraction "f.ml" nat.', "Extraction"), ("Timeout 3 Quit.", "Quit"),
])
def test_forbidden(sentence, cmd):
    assert forbidden_command(sentence) == cmd


@pytest.mark.parametrize("sentence", ["Lemma Loader : True.", "Require Import Lra.", "Check Load.", "(* Drop. *) lia."])
def test_allowed(sentence):
    assert forbidden_command(sentence) is None


def test_declares_and_line_col():
    assert declares("Require Import Lra.\nTheorem t : True.", "t")
    assert not declares("(* Theorem t *) Proof. auto. Qed.", "t")
    assert not declares("Theorem t2 : True.", "t")
    assert line_col("ab\ncd", 4) == (2, 1)


# One case per command of the Coq 8.16 reference manual that writes or reads files, loads code,
# starts programs or rewinds the document, in the forms the former patterns let through (their
# trailing `\b` needed a word character after a quote: `Extraction "/abs"`, `Print Universes "/abs"`).
@pytest.mark.parametrize("sentence,cmd", [
    ('Redirect "/tmp/out" Print nat.', "Redirect"),
    ('Redirect"out" Print nat.', "Redirect"),
    ('Extraction "/tmp/f.ml" nat.', "Extraction"),
    ('Extraction"f" nat.', "Extraction"),
    ("Extraction Library Datatypes.", "Extraction Library"),
    ("Recursive Extraction Library Datatypes.", "Recursive Extraction Library"),
    ("Separate Extraction nat.", "Separate Extraction"),
    ("Extraction TestCompile nat.", "Extraction TestCompile"),
    ('Print Universes "/tmp/u".', "Print Universes"),
    ('Print Sorted Universes "/tmp/u".', "Print Sorted Universes"),
    ('Print Universes Subgraph (Coq.Init.Datatypes.nat) "u.dot".', "Print Universes"),
    ('Set Extraction Output Directory "/tmp".', "Set Extraction Output Directory"),
    ('Load Verbose "/etc/passwd".', "Load"),
    ('Cd "/root".', "Cd"),
    ('Declare ML Module "coq-core.plugins.ltac".', "Declare ML Module"),
    ('Add LoadPath "/home" as H.', "Add LoadPath"),
    ('Remove LoadPath "/usr".', "Remove LoadPath"),
    ('Add ML Path "/tmp".', "Add ML Path"),
    ('Locate File "secret.v".', "Locate File"),
    ('Set Debug "all".', "Set Debug"),
    ("Back 2.", "Back"),
    ("Backtrack 1 0 0.", "Backtrack"),
    ('#[global] Time Fail Timeout 3 Redirect "/tmp/x" Print nat.', "Redirect"),
    ('Local Extraction "/tmp/x" nat.', "Extraction"),
])
def test_forbidden_per_command(sentence, cmd):
    assert forbidden_command(sentence) == cmd


@pytest.mark.parametrize("sentence", [
    "Extraction nat.", "Recursive Extraction nat.", "Print Universes.", "Print Extraction Inline.",
    "Set Printing All.", "Lemma Backward : True.", "Check Cd.", "Definition Loadable := 1.",
])
def test_allowed_look_alikes(sentence):
    assert forbidden_command(sentence) is None
