"""Masking a number of a question as x (FOBAR): exact masked strings on real GSM8K questions, and edge cases."""

import pytest

from lemmaflow.tools.masking import NoMaskableNumber, candidate_maskings, mask_number, select_maskings

from lemmaflow.tools.datasets import load_gsm8k


@pytest.fixture(scope="module")
def questions() -> list[str]:
    return [p.question for p in load_gsm8k()]  # line i of gsm8k/test.jsonl is gsm8k-i


# (line index in gsm8k/test.jsonl, every candidate as (kind, text), which one to mask, the exact masked question)
CASES = [
    (0, [('integer', '16'), ('word', 'three'), ('word', 'four'), ('money', '2')],
     1, "Janet’s ducks lay 16 eggs per day. She eats x for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?"),
    (2, [('money', '80,000'), ('money', '50,000'), ('percent', '150')],
     0, 'Josh decides to try flipping a house.  He buys a house for $x and then puts in $50,000 in repairs.  This increased the value of the house by 150%.  How much profit did he make?'),
    (2, [('money', '80,000'), ('money', '50,000'), ('percent', '150')],
     2, 'Josh decides to try flipping a house.  He buys a house for $80,000 and then puts in $50,000 in repairs.  This increased the value of the house by x%.  How much profit did he make?'),
    (9, [('integer', '40'), ('money', '10'), ('decimal', '1.2'), ('integer', '45')],
     2, "Eliza's rate per hour for the first 40 hours she works each week is $10. She also receives an overtime pay of x times her regular hourly rate. If Eliza worked for 45 hours this week, how much are her earnings for this week?"),
    (12, [('money', '90'), ('integer', '7'), ('money', '1.5'), ('money', '3')],
     2, 'Carlos is planting a lemon tree. The tree will cost $90 to plant. Each year it will grow 7 lemons, which he can sell for $x each. It costs $3 a year to water and feed the tree. How many years will it take before he starts earning money on the lemon tree?'),
    (24, [('money', '19.50'), ('percent', '25')],
     0, "Kyle bought last year's best-selling book for $x. This is with a 25% discount from the original price. What was the original price of the book?"),
    (30, [('integer', '7'), ('integer', '11'), ('integer', '162'), ('integer', '10')],
     1, "Darrell and Allen's ages are in the ratio of 7:x. If their total age now is 162, calculate Allen's age 10 years from now."),
    (119, [('percent', '30'), ('word', 'Four'), ('percent', '40'), ('word', 'four'), ('money', '40000'), ('word', 'four'), ('word', 'two'), ('word', 'four')],
     0, "Adrien's total salary was x percent higher than Lylah's. Four years later, his salary had increased, and he was earning 40% more than what he was making four years ago. If Adrien's and Lylah's salary increased simultaneously, and Adrien earned $40000 four years ago, calculate the total salary the two were receiving four years later?"),
    (459, [('word', 'two'), ('integer', '1'), ('word', 'four'), ('integer', '12'), ('word', 'forty-two'), ('integer', '75'), ('word', 'twenty'), ('integer', '65'), ('integer', '2250')],
     4, 'A farmer is buying feed for his horses. He buys a variety of hay, oats, carrots and sugar cubes. Since sugar cubes are a rare treat, he only buys two 1-pound boxes of them for the whole stable. He only wants enough carrots to feed the horses while the vegetables are fresh, so he buys four 12-pound bags. Hay is the main diet of his horses, so he buys x 75-pound bales. Oats are a staple to supplement the hay, so he buys twenty 65-pound sacks. If his farm truck can carry 2250 pounds at a time, how many trips does the farmer need to transport all the feed?'),
    (551, [('word', 'five'), ('money', '4'), ('word', 'ten'), ('money', '0.30'), ('word', 'five'), ('money', '2'), ('word', 'one'), ('word', 'fifty')],
     3, 'Carly wants to treat her friends. She orders five hamburgers at $4 each, ten packs of potato fries at $x each pack, and five cans of fruit drinks at $2 each can.  How much change does Carly get back if she gives one fifty-dollar bill?'),
    (708, [('integer', '7'), ('integer', '2'), ('money', '12')],
     0, 'Given a x-day week, how much does Alex charge for 2 weeks of tutoring if she charges $12 per day?'),
    (729, [('integer', '5000'), ('fraction', '2/5'), ('fraction', '2/3')],
     1, "At 8:00, 5000 people lined up at a polling station to cast their vote on election day. By midday x of the people had voted and by 16:00 2/3 of the remaining people had voted. What's the number of those who had not voted by 16:00?"),
    (966, [('word', 'one'), ('fraction', '1/2'), ('integer', '4'), ('fraction', '1 1/2')],
     3, 'Greta wanted brownies for her birthday.  She made a batch for herself; one dozen cream cheese swirl brownies.  At her office, they threw her a party and sent her home with 1/2 a dozen brownies.  When she arrived home, her friends were there to throw her a surprise party and had 4 dozen brownies waiting.  During the party, x dozen brownies were eaten.  How many individual brownies did Greta have left over from the entire day?'),
    (988, [('money', '2,000.00'), ('percent', '25'), ('money', '1,000.00')],
     0, 'Jessica makes $x a month.  She sets 25% of her paycheck aside to put towards fancy shoes.  Each pair of shoes she buys costs $1,000.00.  How many shoes can she buy in a year?'),
    (13, [('integer', '2'), ('integer', '5')],
     0, 'Melanie is a door-to-door saleswoman. She sold a third of her vacuum cleaners at the green house, x more to the red house, and half of what was left at the orange house. If Melanie has 5 vacuum cleaners left, how many did she start with?'),
    (6, [('integer', '4'), ('integer', '20')],
     0, 'Toulouse has twice as many sheep as Charleston. Charleston has x times as many sheep as Seattle. How many sheep do Toulouse, Charleston, and Seattle have together if Seattle has 20 sheep?'),
]


@pytest.mark.parametrize("index, expected, which, masked", CASES, ids=[f"q{c[0]}-{c[2]}" for c in CASES])
def test_real_gsm8k_questions(questions, index, expected, which, masked):
    q = questions[index]
    cands = candidate_maskings(q)
    assert [(m.kind, m.text) for m in cands] == expected
    m = cands[which]
    assert m.masked == masked
    assert q[m.start:m.end] == m.text and m.masked == q[:m.start] + "x" + q[m.end:]


@pytest.mark.parametrize("question, kind, value, answer, masked", [
    ("It costs $1,200.50 today.", "money", 1200.5, "1200.5", "It costs $x today."),
    ("A 25% tip.", "percent", 25.0, "25", "A x% tip."),
    ("She ate 2/3 of it.", "fraction", 2 / 3, "2/3", "She ate x of it."),
    ("It took 1 1/2 hours.", "fraction", 1.5, "1.5", "It took x hours."),
    ("He ran 2.5 km.", "decimal", 2.5, "2.5", "He ran x km."),
    ("A 3-day trip.", "integer", 3.0, "3", "A x-day trip."),
    ("He has twenty-five cards.", "word", 25.0, "25", "He has x cards."),
    ("It holds two hundred and fifty liters.", "word", 250.0, "250", "It holds x liters."),
    ("It weighs a thousand grams.", "word", 1000.0, "1000", "It weighs x grams."),
    ("She gave 40 percent away.", "percent", 40.0, "40", "She gave x percent away."),
    ("The ratio of boys to girls is 3:2.", "integer", 3.0, "3", "The ratio of boys to girls is x:2."),
])
def test_kinds_values_and_wording(question, kind, value, answer, masked):
    m = mask_number(question, "first")
    assert (m.kind, m.answer, m.masked) == (kind, answer, masked)
    assert m.value == pytest.approx(value)


@pytest.mark.parametrize("question", [
    "She finished 3rd in the race.",                 # ordinal
    "He was born in 1990.",                          # year
    "The party is on March 3.",                      # date
    "The train leaves at 7:30 and again at 5 pm.",   # clock times
    "Horse #12 won. Her car is an F-150.",           # labels and names
    "They sell the Widgeteer 3000, which is new.",   # product name
    "He has twice as many and half as much, a dozen in all.",  # multiplicative words are not masked
    "One of them left; no one stayed.",              # pronoun 'one'
    "She read two-thirds of the book.",              # fraction word
    "It lasts 5-10 minutes.",                        # range
])
def test_not_quantities_are_not_masked(question):
    assert candidate_maskings(question) == []


def test_no_number_is_a_clear_result_not_a_crash():
    assert candidate_maskings("What is love?") == []
    assert candidate_maskings("") == []
    with pytest.raises(NoMaskableNumber, match="no maskable number"):
        mask_number("What is love?")
    with pytest.raises(NoMaskableNumber):
        select_maskings("How many apples are left?", "all")


def test_select_first_last_all_and_limit():
    q = "Tom has 3 apples, buys 4 more and eats 2."
    assert [m.text for m in select_maskings(q, "all")] == ["3", "4", "2"]
    assert [m.text for m in select_maskings(q, "all", limit=2)] == ["3", "4"]
    assert [m.text for m in select_maskings(q, "first")] == ["3"]
    assert [m.text for m in select_maskings(q, "last")] == ["2"]
    assert mask_number(q, 1).masked == "Tom has 3 apples, buys x more and eats 2."


def test_every_gsm8k_question_masks_without_error(questions):
    """The whole test set: each masking replaces exactly its span and keeps the rest of the text."""
    covered = 0
    for q in questions:
        cands = candidate_maskings(q)
        covered += bool(cands)
        for m in cands:
            assert m.masked == q[:m.start] + "x" + q[m.end:]
            assert m.value > 0
    assert covered / len(questions) > 0.99  # measured 1317/1319 (benchmarks/fobar_masking.py)
