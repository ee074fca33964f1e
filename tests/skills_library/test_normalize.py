from lemmaflow.skills_library.normalize import content_hash, normalize_source


def test_python_ignores_layout_comments_and_docstrings():
    a = "def f(x):\n    # add one\n    return x+1\n"
    b = 'def f(x):\n    """Add one."""\n    return (x +\n            1)'
    assert content_hash("tool", "python", a) == content_hash("tool", "python", b)
    assert content_hash("tool", "python", a) != content_hash("tool", "python", a.replace("x+1", "x+2"))


def test_python_that_does_not_parse_falls_back_to_text_rules():
    assert normalize_source("python", "def f(:\n   return  1  # c") == "def f(: return 1"


def test_coq_nested_comments_and_whitespace():
    a = "Lemma l : 1 = 1. (* a (* nested *) comment *)\nProof.   reflexivity. Qed."
    b = "Lemma l : 1 = 1.\nProof. reflexivity.\n  Qed."
    assert content_hash("lemma", "coq", a) == content_hash("lemma", "coq", b)
    assert content_hash("lemma", "coq", a) != content_hash("lemma", "coq", b.replace("1 = 1", "2 = 2"))


def test_lean_line_and_block_comments():
    a = "theorem t : 1 = 1 := by -- trivial\n  /- block /- nested -/ -/ rfl"
    b = "theorem t : 1 = 1 := by rfl"
    assert normalize_source("lean4", a) == normalize_source("lean4", b)


def test_kind_language_and_statement_are_part_of_the_hash():
    src = "Lemma l : 1 = 1. Proof. reflexivity. Qed."
    assert content_hash("lemma", "coq", src) != content_hash("tool", "coq", src)
    assert content_hash("lemma", "coq", src, "1 = 1") != content_hash("lemma", "coq", src, "2 = 2")
