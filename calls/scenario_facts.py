"""A scenario's facts (budget, timeline, company size, industry) and what a persona's words say about them.

Pure text rules, no I/O: numbers written in words are read by `text2num` ("eighty thousand" is 80000), so a persona
that names its budget in words is read as one that names it in digits."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from text_to_num import alpha2digit

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_ORDINAL_QUARTERS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 4}
_QUARTER = re.compile(r"\bq([1-4])\b|\b(first|second|third|fourth|last) quarter\b", re.IGNORECASE)
# "May" is also a verb: it is a month only after a word that dates it.
_MONTH = re.compile(r"\b(" + "|".join(month for month in MONTHS if month != "may")
                    + r")\b|\b(?:in|by|before|until|end of|early|late|mid) (may)\b", re.IGNORECASE)
_YEAR_END = re.compile(r"\b(?:the )?end of (?:the|this) year\b", re.IGNORECASE)
_NUMBER = r"\d+(?:[.,]\d+)*"
_SCALE = {"k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "million": 1e6, "mn": 1e6}
_MONEY = re.compile(
    rf"(\$\s?)?({_NUMBER})\s*(k|m|mn|thousand|grand|million)?\b"
    rf"(?:\s*(?:-|\u2013|to|,?\s*and)\s*(?:a\s+)?(\$\s?)?({_NUMBER})\s*(k|m|mn|thousand|grand|million)?\b)?"
    r"(?!\s*\+?\s*(?:employees|people|staff|of us|users|customers))",
    re.IGNORECASE)
_HALF = re.compile(r"\bhalf (?:a|an) (\d+)\b", re.IGNORECASE)
# A company said to be of a number, which counts its people ("the whole company of about two thousand").
_COMPANY_OF = re.compile(r"\b(?:company|business|firm|organi[sz]ation) of (?:about |around |roughly |some |nearly |"
                         rf"almost |over |under )?({_NUMBER})\b(?!\s*(?:years|%|percent|offices|sites|countries))",
                         re.IGNORECASE)
_HEADCOUNT = re.compile(rf"({_NUMBER})(\+)?(?:\s*(?:-|\u2013|to)\s*({_NUMBER}))?\s*(?:of (?:our|the) )?"
                        r"(?:employees|people|staff|of us|engineers|developers|workers)\b", re.IGNORECASE)

# Words that place a company in an industry; a persona naming another industry's words contradicts its scenario.
INDUSTRIES: dict[str, tuple[str, ...]] = {
    "retail": ("retail", "store", "stores", "shop", "shops", "shoppers", "supermarket", "chain of stores", "e-commerce",
               "ecommerce", "online store", "online shop", "webshop"),
    "software": ("saas", "software", "platform", "app", "startup", "subscription", "cloud"),
    "financial services": ("bank", "banking", "financial", "insurance", "insurer", "fund", "fintech", "treasury",
                           "lender", "credit union"),
    "healthcare": ("clinic", "clinics", "hospital", "hospitals", "dental", "patients", "pharmacy", "medical"),
    "manufacturing": ("factory", "factories", "plant", "plants", "manufacturer", "manufacturing", "assembly line"),
    "hospitality": ("restaurant", "restaurants", "hotel", "hotels", "bar", "cafe", "catering"),
    "construction": ("construction", "contractor", "building sites", "builders"),
    "logistics": ("logistics", "warehouse", "warehouses", "trucking", "freight", "shipping", "distribution"),
    "education": ("school", "schools", "university", "college", "students", "teachers"),
    "fitness": ("fitness", "gym", "gyms", "workout", "workouts"),
    "beauty": ("beauty", "cosmetics", "skincare", "makeup"),
    "food": ("food", "grocery", "groceries", "kibble", "snacks", "beverages"),
}
# An industry is named by its words or by its own name ("healthcare").
_INDUSTRY_WORDS = {group: re.compile(r"\b(?:" + "|".join(map(re.escape, (group, *terms))) + r")\b", re.IGNORECASE)
                   for group, terms in INDUSTRIES.items()}


_UNITS = "one|two|three|four|five|six|seven|eight|nine"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_UNITS_AND_TENS = f"{_UNITS}|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|{_TENS}"
# After a unit or a tens word, "and" followed by a number of hundreds starts a second number ("three hundred and fifty
# and five hundred thousand" is two); text2num would read the words as one.
_SECOND_NUMBER = re.compile(rf"\b((?:{_UNITS_AND_TENS})(?:-\w+)?) and (?=(?:a|an|{_UNITS_AND_TENS}) hundred\b)",
                            re.IGNORECASE)


# A unit followed by a tens word is said for hundreds ("one eighty" is 180, "three fifty" 350, "four-twenty" 420),
# unless a scale or a hundred follows the tens word.
_SPOKEN_HUNDREDS = re.compile(rf"\b({_UNITS})[ -]((?:{_TENS})(?:-\w+)?)\b(?! (?:hundred|thousand|million|billion)\b)",
                              re.IGNORECASE)


def digits(text: str) -> str:
    """The text with its numbers written in words turned into digits."""
    text = _SPOKEN_HUNDREDS.sub(r"\1 hundred \2", _SECOND_NUMBER.sub(r"\1, and ", text))
    converted: str = alpha2digit(text, "en")
    return converted


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@dataclass(frozen=True, slots=True)
class Amount:
    """A number the text names, as a (low, high) range, with the words around it (numbers in digits) that say what
    it counts."""

    figure: tuple[float, float]
    money_like: bool  # a currency sign or a scale, or 1,000 or more: a sum of money unless its words say otherwise
    before: str
    after: str


def amounts(text: str) -> list[Amount]:
    """The numbers and ranges the text names from 10: "$50k-$120k", "up to a hundred thousand", "between fifty and a
    hundred thousand", "half a million", "forty to ninety"."""
    text = _HALF.sub(lambda match: str(int(match.group(1)) // 2), digits(text))
    found = []
    for match in _MONEY.finditer(text):
        sign, first, scale, second_sign, second, second_scale = match.groups()
        low = _number(first) * _SCALE.get((scale or "").lower(), 1)
        high = low
        if second is not None:
            high = _number(second) * _SCALE.get((second_scale or "").lower(), 1)
            while not scale and low * 1000 <= high:  # "50 and 100000": the first shares the second's scale
                low *= 1000
        if high >= 10:
            money_like = bool(sign or second_sign or scale or second_scale) or high >= 1000
            found.append(Amount((min(low, high), max(low, high)), money_like, text[:match.start()],
                                text[match.end():]))
    return found


def money(text: str) -> list[tuple[float, float]]:
    """The money figures the text names, each as a (low, high) range: "$50k-$120k", "up to a hundred thousand",
    "between fifty and a hundred thousand", "half a million". A bare number counts only from 1,000 or with a
    currency sign or a scale."""
    return [amount.figure for amount in amounts(text) if amount.money_like and amount.figure[1] >= 100]


def headcounts(text: str) -> list[tuple[float, float]]:
    """Numbers of people the text names, each as a (low, high) range; "5000+" is (5000, infinity)."""
    found = []
    for match in _HEADCOUNT.finditer(digits(text)):
        low = _number(match.group(1))
        high = math.inf if match.group(2) else _number(match.group(3)) if match.group(3) else low
        found.append((low, high))
    found += [(_number(size), _number(size)) for size in _COMPANY_OF.findall(digits(text))]
    return found


# A count of everyone: "all" or "whole" before the staff counted ("all 900 of our staff", "all 1200 people in the
# network"; not "all 40 engineers", a team), or the whole company said to be the number ("the whole company's about
# 1500", "200, which is the whole company").
_EVERYONE = re.compile(rf"\b(?:all|whole|entire)\s+({_NUMBER})\s+(?:of (?:our|the|us)\s+)?(?:[a-z-]+\s+)?"
                       rf"(?:employees|people|staff|workers)\b"
                       rf"|\b(?:whole|entire) company(?:'s| is) (?:about |around |roughly |nearly |almost |over )?"
                       rf"({_NUMBER})\b|\b({_NUMBER}),? which is (?:the|our) (?:whole|entire) company\b",
                       re.IGNORECASE)


def everyone(text: str) -> list[tuple[float, float]]:
    """The counts of everyone in the company the text names, each as a (low, high) range."""
    return [(_number(count), _number(count)) for match in _EVERYONE.finditer(digits(text))
            for count in match.groups() if count]


def quarters(text: str) -> set[int]:
    """The calendar quarters the text dates something in: "Q3", "third quarter", "by September", "the end of the
    year"."""
    found = {int(q) if q else _ORDINAL_QUARTERS[ordinal.lower()] for q, ordinal in _QUARTER.findall(text)}
    found |= {MONTHS.index((month or may).lower()) // 3 + 1 for month, may in _MONTH.findall(text)}
    if _YEAR_END.search(text):
        found.add(4)
    return found


_WEEKS_IN = {"week": 1.0, "month": 52 / 12, "quarter": 13.0, "year": 52.0}
# A time to come, as a span ("in 8 weeks", "a year", "next month", "two quarters", "not for six months"); not a span
# gone ("a year ago", "for a year", "last year"), nor a share ("a quarter of the budget").
_SPAN = re.compile(r"(?<!\blast )(?<!(?<!\bnot )\bfor )\b(\d+(?:\.\d+)?|a|an|one|next) "
                   r"(week|month|year|quarter(?! of))s?\b(?! ago)", re.IGNORECASE)
# A season to come is, not knowing today's date, half a year away on average ("next spring").
_NEXT_SEASON = re.compile(r"\bnext (?:spring|summer|autumn|fall|winter)\b", re.IGNORECASE)
WEEKS_TO_A_SEASON = 26.0


# A sum just before "a year" makes it the sum's period, not a span ("two hundred thousand a year").
_SUM_BEFORE = re.compile(r"\d\s*(?:k|m|thousand|million|bn|billion|dollars|euros|pounds)?\s*$", re.IGNORECASE)


def spans_in_weeks(text: str) -> list[float]:
    """The spans of time to come the text names, in weeks: "within 8 weeks" is 8, "next year" and "a year" 52; the
    end of the next period is half a period further ("the end of next quarter" is 19.5), a season to come 26. "Next
    quarter" alone may only say when nothing will happen ("Nothing changes before next quarter"): no span."""
    text = digits(text)
    spans = []
    for match in _SPAN.finditer(text):
        count, unit = (group.lower() for group in match.groups())
        ending = count == "next" and text[:match.start()].lower().endswith("end of ")
        one = count in ("a", "an", "one", "next")
        rate = count in ("a", "an") and _SUM_BEFORE.search(text[:match.start()])
        if (unit == "quarter" and one and not ending) or rate:
            continue
        weeks = (1.0 if one else float(count)) * _WEEKS_IN[unit]
        spans.append(weeks * 1.5 if ending else weeks)
    return spans + [WEEKS_TO_A_SEASON] * len(_NEXT_SEASON.findall(text))


# The period a sum is paid for: "a week", "per month", "for the launch quarter", "annually".
_PERIOD_WORDS = (r"(?:(?:a|an|per|each|every|the(?: [\w-]+)?|/) ?(week|month|quarter|year)|(week|month|quarter|year)ly"
                 r"|(annual)ly)\b")
_PERIOD = re.compile(r"\b" + _PERIOD_WORDS, re.IGNORECASE)
_PERIOD_AFTER = re.compile(r"^\s*" + _PERIOD_WORDS, re.IGNORECASE)


def _period(match: re.Match[str] | None) -> float | None:
    if match is None:
        return None
    unit = next(group for group in match.groups() if group).lower()
    return _WEEKS_IN["year" if unit == "annual" else unit]


def period_in_weeks(words_after: str) -> float | None:
    """The period, in weeks, of a sum the words right after it name ("a week", "per month"); None if they name
    none."""
    return _period(_PERIOD_AFTER.match(words_after))


def industries(text: str) -> set[str]:
    return {group for group, pattern in _INDUSTRY_WORDS.items() if pattern.search(text)}


def overlaps(figure: tuple[float, float], allowed: tuple[float, float], tolerance: float = 0.5) -> bool:
    """Whether a figure is within reach of the allowed range: half its low end to one and a half its high end."""
    return figure[1] >= allowed[0] * (1 - tolerance) and figure[0] <= allowed[1] * (1 + tolerance)


@dataclass(frozen=True, slots=True)
class ScenarioFacts:
    """What the scenario says about the persona's company; empty strings where it says nothing."""

    budget_range: str = ""  # e.g. "$50k-$120k per year"
    decision_timeline: str = ""  # e.g. "decision by end of Q3"
    company_size: str = ""  # e.g. "mid-market (200-1000 employees)"
    industry: str = ""  # e.g. "retail"

    @property
    def budget(self) -> tuple[float, float] | None:
        figures = money(self.budget_range)
        return (min(low for low, _ in figures), max(high for _, high in figures)) if figures else None

    @property
    def budget_period_weeks(self) -> float | None:
        """The period the budget is for, in weeks ("per month", "for the launch quarter"); None if it names none."""
        return _period(_PERIOD.search(self.budget_range))

    @property
    def headcount(self) -> tuple[float, float] | None:
        figures = headcounts(self.company_size)
        return figures[0] if figures else None

    @property
    def timeline_quarters(self) -> set[int]:
        return quarters(self.decision_timeline)

    @property
    def timeline_weeks(self) -> tuple[float, float] | None:
        """The shortest and the longest span the timeline names, in weeks ("approved in 2 weeks, launch in 10")."""
        spans = spans_in_weeks(self.decision_timeline)
        return (min(spans), max(spans)) if spans else None

    @property
    def industry_groups(self) -> set[str]:
        return industries(self.industry)
