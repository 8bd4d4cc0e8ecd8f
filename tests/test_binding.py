"""Claims bound to their subject: a corpus value given to the wrong subject is not supported.

A small hand-written corpus (plans with prices, an extra seat, rate limits, support hours) and
pairs of paraphrased claims: the true one binds each value to its own subject, the false one binds
a value of the corpus to another subject ("An extra seat costs 14 dollars", where 14 is the
Starter plan's price). The evidence is every sentence of the corpus, as in issue 22.
"""

from __future__ import annotations

import time

import pytest

from ragtune.chains.grounding import (
    EmbeddingVerifier,
    Evidence,
    SubjectBinding,
    default_verifier,
    split_claims,
    verify_claims,
)
from ragtune.chains.grounding.bound import BoundVerifier
from ragtune.chains.grounding.verifier import LexicalVerifier

PRICING = (
    "The Starter plan costs 14 dollars a month and includes 3 seats. "
    "The Business plan costs 49 dollars a month and includes 10 seats. "
    "An extra seat costs 7 dollars a month on either plan."
)
LIMITS = (
    "Starter workspaces may send 60 API requests per minute. "
    "Business workspaces may send 300 API requests per minute. "
    "Exports are kept for 30 days, and audit logs are kept for 365 days."
)
SUPPORT = (
    "Support replies within 48 hours on the Starter plan. "
    "Business customers get a reply within 4 hours. "
    "The support team is based in Lisbon, and the billing team works from Toronto."
)
CORPUS = {1: PRICING, 2: LIMITS, 3: SUPPORT}

PAIRS = [
    ("An extra seat costs 7 dollars per month.", "An extra seat costs 14 dollars per month."),
    ("The Starter plan is priced at 14 dollars monthly.", "The Starter plan is priced at 49 dollars monthly."),
    ("The Business plan comes with 10 seats.", "The Business plan comes with 3 seats."),
    ("Business workspaces can make 300 API requests each minute.",
     "Starter workspaces can make 300 API requests each minute."),
    ("Starter workspaces are limited to 60 API requests a minute.",
     "Starter workspaces are limited to 300 API requests a minute."),
    ("Business customers hear back within 4 hours.", "Business customers hear back within 48 hours."),
    ("On the Starter plan, support answers within 48 hours.", "On the Starter plan, support answers within 4 hours."),
    ("Audit logs are retained for 365 days.", "Audit logs are retained for 30 days."),
    ("Exports are stored for 30 days.", "Exports are stored for 365 days."),
    ("The support team works from Lisbon.", "The support team works from Toronto."),
    ("The Business plan costs 49 dollars a month.", "The Business plan costs 7 dollars a month."),
]  # fmt: skip


def evidence() -> list[Evidence]:
    from ragtune.chains.context import split_sentences

    return [Evidence(n, s.strip()) for n, text in CORPUS.items() for s in split_sentences(text)]


def supported(claim: str, verifier) -> bool:  # type: ignore[no-untyped-def]
    claims = verify_claims(split_claims(claim, {1, 2, 3}), evidence(), verifier)
    return bool(claims) and all(c.verdict == "supported" for c in claims)


@pytest.fixture(scope="module")
def verifier(minilm):  # type: ignore[no-untyped-def]
    return default_verifier(minilm)


KNOWN_MISSES = {
    9: "true refused: 'works from' sits next to Toronto: the binding hears it answer 'the support team works from'",
}
"""Pairs the default gets wrong (measured, not tuned away): strict xfails, so a fix shows up.
Before the rival check (``rivals=False``) pairs 3, 4, 7 and 8 let their false claim through too;
with the subject excuse on (``BoundVerifier(subject=3, rivals=False)``, not the default) pair 2 as well."""


@pytest.mark.parametrize(
    ("true", "false"),
    [
        pytest.param(*pair, marks=pytest.mark.xfail(reason=KNOWN_MISSES[i], strict=True)) if i in KNOWN_MISSES else pair
        for i, pair in enumerate(PAIRS)
    ],
    ids=[f"pair{i}" for i in range(len(PAIRS))],
)
def test_default_verifier_supports_the_true_claim_and_not_the_false_one(verifier, true: str, false: str) -> None:  # type: ignore[no-untyped-def]
    assert supported(true, verifier), true
    assert not supported(false, verifier), false


def test_binding_refuses_false_claims_the_embedding_verifier_alone_supports(minilm, verifier) -> None:  # type: ignore[no-untyped-def]
    """Over the whole set (measured): the embedding verifier alone supports 6 of the 11 false claims,
    the binding without the rival check 5 (it refuses pair 0's), the default none; no true claim is
    lost but pair 9's."""
    plain = EmbeddingVerifier(minilm)
    plain_false = {false for _, false in PAIRS if supported(false, plain)}
    without_rivals = BoundVerifier(EmbeddingVerifier(minilm), rivals=False)
    bound_false = {false for _, false in PAIRS if supported(false, without_rivals)}
    assert plain_false - bound_false == {PAIRS[0][1]}, (plain_false, bound_false)
    assert bound_false <= plain_false, (plain_false, bound_false)
    default_false = {false for _, false in PAIRS if supported(false, verifier)}
    assert default_false == set(), default_false
    lost = [true for true, _ in PAIRS if supported(true, plain) and not supported(true, verifier)]
    assert lost == [PAIRS[9][0]]


def test_an_unbound_claim_says_which_value_the_evidence_gives() -> None:
    found = SubjectBinding().unbound("An extra seat costs 14 dollars a month.", [PRICING])
    assert found is not None and (found.value, found.answer) == ("14", "7")
    claim = verify_claims(
        split_claims("An extra seat costs 14 dollars a month [1].", {1}), evidence(), default_verifier(None)
    )
    assert claim[0].verdict == "unsupported" and claim[0].citations == () and claim[0].corrected == (1,)
    assert claim[0].reason == "the evidence answers '7' where the claim says '14'"


def test_default_verifier_without_an_embedder_is_word_overlap_with_binding() -> None:
    checker = default_verifier(None)
    assert isinstance(checker, BoundVerifier) and isinstance(checker.base, LexicalVerifier)
    assert checker.threshold == checker.base.threshold


def test_a_verbatim_quote_is_bound_by_construction() -> None:
    sentence = "The API allows 120 requests per minute on the Team plan and 600 per minute on Enterprise."
    assert SubjectBinding().unbound(sentence, [sentence]) is None


def test_the_check_costs_less_than_the_embedding_it_follows(minilm) -> None:  # type: ignore[no-untyped-def]
    """The binding check (word arithmetic, no model) costs less per claim than embedding the claim.

    Measured as a ratio in one run: timings on a shared machine are noisy.
    """
    texts = [e.text for e in evidence()]
    claims = [c for pair in PAIRS for c in pair]
    started = time.perf_counter()
    EmbeddingVerifier(minilm).verify(claims, texts)  # a fresh cache: claims and sentences embedded
    embedding = time.perf_counter() - started
    binding = SubjectBinding()
    started = time.perf_counter()
    for claim in claims:
        binding.unbound(claim, texts)
    bound = time.perf_counter() - started
    assert bound < embedding, f"binding {bound * 1000:.0f} ms vs embedding {embedding * 1000:.0f} ms"


def test_extractive_quotes_are_never_vetoed() -> None:
    """The extractive answer quotes passage sentences with markers; the binding and rival checks leave quotes be."""
    from ragtune.chains.grounding.extract import Pick, extractive_text

    shown = evidence()
    binding = SubjectBinding()
    rivals = default_verifier(None).rivals
    assert rivals is not None
    for i in range(len(shown) - 1):
        quoted = extractive_text([Pick(shown[i], 1.0), Pick(shown[i + 1], 0.9)])
        drafts = split_claims(quoted, {1, 2, 3})
        assert [d.text for d in drafts] == [shown[i].text, shown[i + 1].text]
        assert all(binding.unbound(d.text, [e.text for e in shown]) is None for d in drafts)
        assert all(rivals.unbound(d.text, [e.text for e in shown]) is None for d in drafts)


# -- issue 22, second round: names bound beside numbers, the passage's subject excused ---------------
PARKWAY = (
    "Ralph Woodward founded Woodward Park in 1968, and Lewis Eaton opened the San Joaquin River Parkway in 1988. "
    "The park covers 300 acres along the river."
)
FRESNO = (
    "Fresno is the fifth-largest city in California. Fresno is the county seat of Fresno County. "
    "The city is near Clovis. Fresno lies in the San Joaquin Valley. "
    "The city had a population of 494,665 in 2010."
)


def passage(text: str) -> list[Evidence]:
    from ragtune.chains.context import split_sentences

    return [Evidence(1, s.strip()) for s in split_sentences(text)]


def previous(minilm) -> BoundVerifier:  # type: ignore[no-untyped-def]
    """The default before names were bound beside numbers and the subject was excused."""
    return BoundVerifier(EmbeddingVerifier(minilm), SubjectBinding(names="alone", topic=1), subject=0, rivals=False)


def test_a_name_beside_a_date_is_bound_too(minilm, verifier) -> None:  # type: ignore[no-untyped-def]
    """A claim with a year used to check only the year: the swapped founder passed."""
    shown = passage(PARKWAY)
    true = split_claims("Lewis Eaton opened the San Joaquin River Parkway in 1988.", {1})
    assert verify_claims(true, shown, verifier)[0].verdict == "supported"
    false = split_claims("Ralph Woodward opened the San Joaquin River Parkway in 1988.", {1})
    assert verify_claims(false, shown, previous(minilm))[0].verdict == "supported"
    refused = verify_claims(false, shown, verifier)[0]
    assert refused.verdict == "unsupported"
    assert refused.reason == "the evidence answers 'Lewis Eaton' where the claim says 'Woodward'"


def test_the_subject_excuse_lets_the_passage_subject_be_left_out(minilm, verifier) -> None:  # type: ignore[no-untyped-def]
    """With ``subject=3`` (off by default: it also let pair 2's false claim through), "Fresno", which
    three other sentences hold, is the subject "the city" stands for; "Clovis", which one other
    sentence holds, is not excused. The default keeps the strict rule."""
    shown = passage(FRESNO)
    claim = split_claims("The population of Fresno in 2010 was 494,665.", {1})
    assert verify_claims(claim, shown, previous(minilm))[0].reason == "evidence lacks fresno"
    assert verify_claims(claim, shown, verifier)[0].reason == "evidence lacks fresno"
    excusing = BoundVerifier(EmbeddingVerifier(minilm), subject=3, rivals=False)
    assert verify_claims(claim, shown, excusing)[0].verdict == "supported"
    other = verify_claims(split_claims("The population of Clovis in 2010 was 494,665.", {1}), shown, excusing)[0]
    assert (other.verdict, other.reason) == ("unsupported", "evidence lacks clovis")
    business = split_claims(PAIRS[2][1], {1, 2, 3})
    assert all(c.verdict == "supported" for c in verify_claims(business, evidence(), excusing))


def test_subject_names_are_the_claim_names_enough_sentences_hold() -> None:
    from ragtune.chains.grounding.verify import subject_names

    shown = passage(FRESNO)
    claim = "In 2010, Fresno and Clovis had 494,665 people."
    assert subject_names(claim, shown, 3) == {"fresno"}
    assert subject_names(claim, shown, 1) == {"fresno", "clovis"}
    assert subject_names(claim, shown, 0) == set()


# -- issue 22, third round: rival values put in the claim's place ------------------------------------
def test_a_rival_value_that_fits_better_unbinds_the_claim(minilm) -> None:  # type: ignore[no-untyped-def]
    """ "Starter ... 300" fits one sentence with Business in Starter's place, and the other with 60 in
    300's: every word but one is in each sentence, so similarity alone supports it."""
    from ragtune.chains.grounding.rivals import RivalCheck

    check = RivalCheck(EmbeddingVerifier(minilm))
    texts = [e.text for e in evidence()]
    found = check.unbound("Starter workspaces can make 300 API requests each minute.", texts)
    assert found is not None and found.value in {"Starter", "300"} and found.answer in {"Business", "60"}
    assert found.evidence in texts, "the reason quotes a whole evidence sentence"
    assert check.unbound("Business workspaces can make 300 API requests each minute.", texts) is None


def test_clauses_answer_for_their_own_subject(minilm) -> None:  # type: ignore[no-untyped-def]
    """One sentence holds both retention periods; its clause about audit logs holds only 365."""
    from ragtune.chains.grounding.rivals import RivalCheck, units

    sentence = "Exports are kept for 30 days, and audit logs are kept for 365 days."
    assert list(units([sentence])) == [sentence, "Exports are kept for 30 days", "audit logs are kept for 365 days."]
    check = RivalCheck(EmbeddingVerifier(minilm))
    found = check.unbound("Audit logs are retained for 30 days.", [sentence])
    assert found is not None and (found.value, found.answer, found.evidence) == ("30", "365", sentence)
    assert check.unbound("Audit logs are retained for 365 days.", [sentence]) is None


def test_a_rival_counts_only_where_one_sentence_holds_all_its_values(minilm) -> None:  # type: ignore[no-untyped-def]
    """Swapping 2016 for 1998 in "ABC will broadcast the pageant through 2016" would need a sentence
    holding ABC and 1998 together: there is none, so the unrelated year cannot outscore the claim."""
    from ragtune.chains.grounding.rivals import RivalCheck

    texts = ["ABC will broadcast the Miss America pageant through 2016.", "The studio moved to Burbank in 1998."]
    check = RivalCheck(EmbeddingVerifier(minilm), margin=0.0)
    assert check.unbound("ABC will broadcast the Miss America pageant through 2016.", texts) is None
    assert check.unbound("ABC will show the Miss America pageant until 2016.", texts) is None


def test_the_rival_check_runs_without_an_embedder() -> None:
    """Word overlap scores the variants when no embedder is loaded (``default_verifier(None)``)."""
    checker = default_verifier(None)
    assert checker.rivals is not None
    starter = "Starter workspaces can make 300 API requests each minute."
    assert supported(starter, BoundVerifier(LexicalVerifier(), rivals=False))
    claim = verify_claims(split_claims(starter, {1, 2, 3}), evidence(), checker)[0]
    assert claim.verdict == "unsupported", claim


@pytest.mark.parametrize(
    ("name", "most_false", "least_true"),
    [("verification_heldout2.json", 2, 12), ("verification_heldout.json", 2, 16)],
    ids=["hospital-report-set", "railway-tuning-set"],
)
def test_the_held_out_sets_score_as_the_readme_reports(verifier, name: str, most_false: int, least_true: int) -> None:  # type: ignore[no-untyped-def]
    """The hand-written held-out sets of ``benchmarks/verification_heldout.py`` (written blind to the
    verifier): the default's counts as measured and reported, so a change that lets more false
    claims through, or refuses more true ones, fails here."""
    import json
    from pathlib import Path

    from ragtune.chains.context import ContextBlock
    from ragtune.chains.grounding import evidence_sentences

    data = json.loads((Path(__file__).resolve().parent.parent / "benchmarks" / "data" / name).read_text("utf-8"))
    texts = data["corpus"].values()
    blocks = [ContextBlock(number=i, text=t, chunks=[], rank=i, score=1.0) for i, t in enumerate(texts, 1)]
    shown = evidence_sentences(blocks)

    def accepted(claim: str) -> bool:
        judged = verify_claims(split_claims(claim, set()), shown, verifier)
        return bool(judged) and all(c.verdict == "supported" for c in judged)

    false = sum(accepted(p["false"]) for p in data["pairs"])
    true = sum(accepted(p["true"]) for p in data["pairs"])
    assert false <= most_false and true >= least_true, (true, false)
