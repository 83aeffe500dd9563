"""Content filters: each rule on its own, bounded work, and what a policy and a track switch on."""

from __future__ import annotations

import time

import pytest

from calls.job_tracks import Blueprint
from devtools.filter_evaluation import FILTERS_BY_SIDE, PARTS, load
from guardrails.filters import MAX_SCREENED_CHARACTERS, ContentFilter, FilterCategory, FilterDecision, FilterHit, screen
from persona_svc.domain.safety import default_policy

ILLEGAL_QUESTIONS = ContentFilter("illegal-interview-questions", FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS,
                                  FilterDecision.FLAG)
SLURS = ContentFilter("slurs", FilterCategory.SLURS, FilterDecision.BLOCK)
THREATS = ContentFilter("threats", FilterCategory.THREATS, FilterDecision.BLOCK)
DEFAMATION = ContentFilter("defamation", FilterCategory.DEFAMATION, FilterDecision.FLAG)


def _topics(text: str, content_filter: ContentFilter) -> list[str]:
    return [hit.topic for hit in screen(text, (content_filter,))]


@pytest.mark.parametrize(("question", "topic"), [
    ("How old are you?", "age"),
    ("Are you pregnant?", "family"),
    ("Are you planning to have kids soon?", "family"),
    ("What religion are you?", "religion"),
    ("Where are you originally from?", "origin"),
    ("Do you have a disability?", "disability"),
    ("Are you married?", "marital status"),
])
def test_the_illegal_question_rule_names_the_topic_asked_about(question, topic):
    assert _topics(question, ILLEGAL_QUESTIONS) == [topic]


@pytest.mark.parametrize("question", [
    "Are you legally authorized to work here?",
    "Can you do the essential functions of the job with or without reasonable accommodation?",
    "Are you over eighteen?",
    "Which languages do you speak?",
    "How old is your current CRM?",
])
def test_the_questions_the_law_allows_are_not_flagged(question):
    assert _topics(question, ILLEGAL_QUESTIONS) == []


def test_a_hit_cites_the_words_it_matched():
    text = "Great answer. So, how old are you?"
    (hit,) = screen(text, (ILLEGAL_QUESTIONS,))
    assert hit == FilterHit("illegal-interview-questions", FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS,
                            FilterDecision.FLAG, "age", 18, 33)
    assert text[hit.start:hit.end] == "how old are you"


@pytest.mark.parametrize(("text", "flagged"), [
    ("Only a retard would buy that.", True),
    ("You people are all the same.", True),
    ("That was a lazy pitch.", False),
])
def test_the_slur_rule(text, flagged):
    assert bool(_topics(text, SLURS)) is flagged


@pytest.mark.parametrize(("text", "flagged"), [
    ("Call again and I will hurt you.", True),
    ("I know where you live.", True),
    ("We'd kill for that feature.", False),
    ("I'll hurt my budget if I sign now.", False),
    ("The CFO is going to kill this project.", False),
])
def test_the_threat_rule(text, flagged):
    assert bool(_topics(text, THREATS)) is flagged


@pytest.mark.parametrize(("text", "flagged"), [
    ("Initech bribes its auditors.", True),
    ("Everyone knows Globex commits fraud.", True),
    ("Everyone knows that vendors commit fraud sometimes.", False),  # no one named
    ("Globex was too expensive. The fraud team liked us.", False),  # the name and the claim are apart
])
def test_the_defamation_rule_needs_a_name_in_the_accusing_sentence(text, flagged):
    assert bool(_topics(text, DEFAMATION)) is flagged


def test_a_policy_pattern_is_its_own_rule_with_its_decision():
    competitors = ContentFilter("competitor-names", FilterCategory.PATTERN, FilterDecision.BLOCK, r"(?i)\bglobex\b")
    (hit,) = screen("We looked at Globex too.", (competitors, THREATS))
    assert (hit.rule, hit.decision, hit.start, hit.end) == ("competitor-names", FilterDecision.BLOCK, 13, 19)


def test_every_filter_of_a_policy_that_matches_is_reported_in_order():
    hits = screen("I will hurt you, you retard.", (SLURS, THREATS, DEFAMATION))
    assert [hit.rule for hit in hits] == ["slurs", "threats"]


def test_the_hr_track_flags_illegal_questions_by_default_and_other_tracks_do_not():
    question = "Are you married?"
    assert [hit.decision for hit in screen(question, default_policy(Blueprint.HR).input_filters)] == [
        FilterDecision.FLAG]
    assert screen(question, default_policy(Blueprint.SALES).input_filters) == ()


def test_persona_turns_are_screened_for_slurs_and_threats_in_every_track_by_default():
    for blueprint in Blueprint:
        decisions = {hit.category: hit.decision for hit in screen("I will hurt you, retard.",
                                                                  default_policy(blueprint).output_filters)}
        assert decisions == {FilterCategory.SLURS: FilterDecision.BLOCK, FilterCategory.THREATS: FilterDecision.BLOCK}


def test_only_the_first_characters_of_a_huge_turn_are_screened():
    tail = "x" * MAX_SCREENED_CHARACTERS + " how old are you?"
    assert screen(tail, (ILLEGAL_QUESTIONS,)) == ()


def test_a_policy_pattern_runs_in_linear_time_on_text_that_breaks_backtracking_engines():
    # (a+)+$ against many a's and a final "!" takes exponential time in a backtracking engine.
    nested = ContentFilter("nested", FilterCategory.PATTERN, FilterDecision.FLAG, r"(a+)+$")
    started = time.process_time()
    assert screen("a" * 3000 + "!", (nested,)) == ()
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize("file_name", [file_name for name, file_name in PARTS if name == "development"])
def test_the_rules_find_every_labelled_turn_they_were_written_from_and_nothing_else(file_name):
    for turn in load(file_name):
        found = {hit.category for hit in screen(turn.text, FILTERS_BY_SIDE[turn.side])}
        assert found == ({turn.category} if turn.category else set()), turn.text


@pytest.mark.parametrize(("question", "topic"), [
    ("How many years until you retire, do you think?", "age"),
    ("Do you need daycare for your son?", "family"),
    ("Do you keep kosher or celebrate Passover?", "religion"),
    ("Were your grandparents born abroad?", "origin"),
    ("Are you a citizen yet, or still on a green card?", "citizenship"),
    ("Were you ever arrested at a protest?", "arrest record"),
    ("Are you in a labour union?", "union membership"),
    ("Did you get an honourable discharge?", "military discharge"),
    ("What's your weight these days?", "height and weight"),
    ("Has your mother had diabetes?", "genetic information"),
    ("Have you filed for bankruptcy?", "credit and finances"),
    ("What's your sexual orientation?", "sex and sexual orientation"),
    ("How much did you make at your previous employer?", "salary history"),
    # Lawful or unrelated questions that share the topics' words.
    ("Have you ever been convicted of a felony involving money?", None),  # convictions may be asked, not arrests
    ("Will you need visa sponsorship now or later?", None),
    ("Tell me about your work with our benefits team on family leave.", None),  # a statement, not a question
    ("How did your old company handle religious holidays in its rota?", None),  # the topic is not the person's
    ("Would you describe yourself as a straight shooter?", None),
])
def test_the_illegal_question_rule_knows_each_protected_topic_by_its_words_not_one_phrasing(question, topic):
    assert _topics(question, ILLEGAL_QUESTIONS) == ([topic] if topic else [])


@pytest.mark.parametrize(("text", "flagged"), [
    ("Keep this up and you're going to get hurt.", True),
    ("Shame if something happened to your office.", True),
    ("I'll smash your teeth in.", True),
    ("I'll get you the numbers by Friday.", False),
    ("We'll destroy the competition this year.", False),
])
def test_the_threat_rule_finds_conditional_and_veiled_threats(text, flagged):
    assert bool(_topics(text, THREATS)) is flagged


@pytest.mark.parametrize(("text", "flagged"), [
    ("Boomers like you never get software.", True),
    ("Stop being such a psycho about it.", True),
    ("Our women's sales team beat its quota.", False),
])
def test_the_slur_rule_finds_contempt_for_a_group_in_other_words(text, flagged):
    assert bool(_topics(text, SLURS)) is flagged


@pytest.mark.parametrize(("text", "flagged"), [
    ("Initech cooks its books every quarter.", True),
    ("Globex lied to regulators about the outage.", True),
    ("Globex raised its prices and support got slower.", False),
])
def test_the_defamation_rule_knows_accusations_beyond_crimes_by_name(text, flagged):
    assert bool(_topics(text, DEFAMATION)) is flagged
