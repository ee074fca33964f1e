"""A fixed corpus with known answers for retrieval tests."""

from lemmaflow.skills_library import Entry

TOOLS = [
    ("gcd_list", "gcd_list(xs: list[int]) -> int", "Greatest common divisor of a list of integers."),
    ("lcm_list", "lcm_list(xs: list[int]) -> int", "Least common multiple of a list of integers."),
    ("is_prime", "is_prime(n: int) -> bool", "Primality test by trial division."),
    ("prime_factors", "prime_factors(n: int) -> dict[int, int]", "Factorize n into primes with multiplicities."),
    ("binomial", "binomial(n: int, k: int) -> int", "Binomial coefficient n choose k, counting subsets."),
    ("digit_sum", "digit_sum(n: int, base: int = 10) -> int", "Sum of the digits of n in a given base."),
    ("solve_quadratic", "solve_quadratic(a, b, c) -> list", "Real roots of the quadratic equation a x^2 + b x + c = 0."),
    ("modpow", "modpow(b: int, e: int, m: int) -> int", "Modular exponentiation b^e mod m by repeated squaring."),
]
LEMMAS = [
    ("add_comm", "coq", "forall n m : nat, n + m = m + n", "Addition on naturals is commutative."),
    ("mul_assoc", "coq", "forall a b c : nat, a * (b * c) = (a * b) * c", "Multiplication is associative."),
    ("sq_nonneg", "lean4", "∀ x : ℝ, 0 ≤ x ^ 2", "A square of a real number is nonnegative."),
    ("am_gm_two", "lean4", "∀ a b : ℝ, 0 ≤ a → 0 ≤ b → 2 * Real.sqrt (a * b) ≤ a + b",
     "Arithmetic mean geometric mean inequality for two numbers."),
]

# query -> the name that must rank first
KNOWN = {
    "greatest common divisor": "gcd_list",
    "least common multiple of integers": "lcm_list",
    "primality test": "is_prime",
    "binomial coefficient choose": "binomial",
    "roots of a quadratic equation": "solve_quadratic",
    "modular exponentiation": "modpow",
    "addition commutative": "add_comm",
    "square nonnegative real": "sq_nonneg",
}


def corpus() -> list[Entry]:
    out = []
    for name, sig, doc in TOOLS:
        out.append(Entry(kind="tool", name=name, language="python", statement=sig, docstring=doc, status="verified",
                         source=f"def {sig.split(' ->')[0]}:\n    '''{doc}'''\n    raise NotImplementedError('{name}')\n",
                         tests=[f"assert callable({name})"]))
    for name, lang, stmt, doc in LEMMAS:
        out.append(Entry(kind="lemma", name=name, language=lang, statement=stmt, docstring=doc, status="verified",
                         source=f"Lemma {name} : {stmt}. Proof. auto. Qed." if lang == "coq"
                         else f"theorem {name} : {stmt} := by positivity"))
    return out


def fill_topics(store, n: int, statuses: tuple[str, ...] = ("verified",)) -> list[int]:
    """Add ``n`` entries over 12 topics (lemmas in Coq and tools in Python, alternating), the i-th
    with status ``statuses[i % len(statuses)]``; their ids in order."""
    ids = []
    for i in range(n):
        kind = ("lemma", "tool")[i % 2]
        r = store.add(Entry(kind=kind, name=f"e{i}", language="coq" if kind == "lemma" else "python",
                            source=f"topic{i % 12} body {i}", statement=f"topic{i % 12} statement {i}",
                            status=statuses[i % len(statuses)]), force=True)
        ids.append(r.id)
    return ids
