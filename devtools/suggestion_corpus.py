"""How the local engine's suggestions read against the calls of the labelled sales corpus (tests/data/sales_corpus):
each call is replayed as the live path reads it, a reading at each sequence the transcript service triggers one
(the first at the 4th message, then every 10) and a final reading of the whole call, each judging the 20-message
window with the measures of the whole call so far, and told the labels the session has had so far.

Figures over all suggestions made: the share that cite a message of the call so far, the share that quote one of
the messages they cite, the share that repeat a label or a text the session already had, and the share of
curveballs that the call had already made moot (their topic covered). The corpus calls carry no persona or scenario,
so the curveballs are the track's own.

    .venv/bin/python -m devtools.suggestion_corpus [--part development|held_out|all]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from analysis_svc.domain.conversation import ConversationMetrics, measure
from analysis_svc.domain.suggestions import CURVEBALLS, Suggestion, SuggestionType, quote, stage_for, suggest
from calls.job_tracks import Blueprint
from calls.turns import DEFAULT_WINDOW, Turn
from devtools.say_meter_corpus import load_calls, part_argument, turns_of
from transcript_svc.config import TranscriptSettings
from transcript_svc.domain.model import analysis_due

# What makes each of the track's curveballs moot, by label (the same label means the same curveball on every stage).
MOOT_ONCE = {curveball.label: curveball.moot_once for stages in CURVEBALLS.values() for library in stages.values()
             for curveball in library if curveball.moot_once is not None}


def reading_points(message_count: int, interval: int) -> list[int]:
    """The sequences the live path reads the call at: the transcript service's triggers, then the end of the call."""
    return sorted({*analysis_due(0, message_count, interval), message_count})


def readings(turns: Sequence[Turn], interval: int) -> list[tuple[ConversationMetrics, list[Suggestion]]]:
    """The suggestions of each reading of one call, with the whole-call measures they were made on."""
    made: set[str] = set()
    replayed = []
    for up_to in reading_points(len(turns), interval):
        so_far = turns[:up_to]
        metrics = measure(so_far)
        suggestions = suggest(metrics, so_far[-DEFAULT_WINDOW:], Blueprint.SALES, stage_for(up_to), made=made)
        made.update(suggestion.label for suggestion in suggestions)
        replayed.append((metrics, suggestions))
    return replayed


def main() -> None:
    part = part_argument(__doc__ or "")
    interval = TranscriptSettings.model_fields["analysis_interval"].default
    counts: Counter[str] = Counter()
    for call in load_calls(part):
        turns = turns_of(call)
        said = {turn.sequence: turn.text for turn in turns}
        labels_had: set[str] = set()
        texts_had: set[str] = set()
        for metrics, suggestions in readings(turns, interval):
            counts["readings"] += 1
            for suggestion in suggestions:
                counts["suggestions"] += 1
                cited = [sequence for sequence in suggestion.cites if sequence in said]
                counts["cite"] += bool(cited)
                counts["quote"] += any(quote(said[sequence]) in suggestion.text for sequence in cited)
                counts["repeat label"] += suggestion.label in labels_had
                counts["repeat text"] += suggestion.text in texts_had
                labels_had.add(suggestion.label)
                texts_had.add(suggestion.text)
                if suggestion.type == SuggestionType.CURVEBALL:
                    counts["curveballs"] += 1
                    counts["moot"] += MOOT_ONCE.get(suggestion.label) in metrics.topics_covered
        counts["calls"] += 1
    total = counts["suggestions"]
    print(f"{part}: {counts['calls']} calls, {counts['readings']} readings, {total} suggestions "
          f"({total / counts['readings']:.1f} a reading)")
    for key in ("cite", "quote", "repeat label", "repeat text"):
        print(f"  {key}: {counts[key]} ({counts[key] / total:.0%})")
    print(f"  moot curveballs: {counts['moot']} of {counts['curveballs']} "
          f"({counts['moot'] / max(counts['curveballs'], 1):.0%})")


if __name__ == "__main__":
    main()
