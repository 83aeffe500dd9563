"""The implementation track's rubric (analysis_svc/domain/tracks/implementation.py): each factor rises with the moves
a customer's project owner looks for in the vendor's implementation lead and falls with what a coach marks down, and a
reading of the track is scored on them."""

from __future__ import annotations

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.say_meter import ordered_factors, rubric_of, score
from analysis_svc.domain.tracks import hr, implementation, track_rubric
from calls.job_tracks import Blueprint
from tests.unit.test_track_rubrics import _call

OPENED = "Hi, thanks for setting this up."


def _measured(*said: str) -> dict[str, int]:
    return implementation.RUBRIC.measure(_call(OPENED, *said))


def test_an_agenda_checked_and_a_close_with_owners_and_dates_is_structure():
    framed = implementation.RUBRIC.measure(_call(
        OPENED, "The purpose of today is to agree the plan; the agenda is scope, owners and risks. Anything to add?",
        "No, that's fine.", "To recap: Maria will send the data export by Friday, and our next call is Tuesday."))
    wandering = _measured("So, yeah, lots going on, let's just chat about the software.")

    assert framed[implementation.STRUCTURE] == 100
    assert wandering[implementation.STRUCTURE] == 0


def test_scope_success_dated_milestones_and_change_control_is_scope_and_agreeing_to_everything_costs():
    scoped = _measured("Payroll is in scope, expenses are out of scope for phase one. Success means every invoice "
                       "paid on time. Go-live is in June and depends on the data migration; anything new goes "
                       "through a change request.")
    milestone = _measured("Go-live is in June.")
    everything = _measured("Go-live is in June, and sure, we can add the expenses module, whatever you need.")

    assert scoped[implementation.SCOPE] == 100
    assert everything[implementation.SCOPE] < milestone[implementation.SCOPE]


def test_owners_who_decides_escalation_and_a_cadence_are_governance():
    governed = _measured("Your CFO is the sponsor and Maria the project owner; she signs off each phase, issues "
                         "escalate to the steering committee, and I send a status report every Friday.")
    loose = _measured("We'll sort it out as we go.")

    assert governed[implementation.GOVERNANCE] == 100
    assert loose[implementation.GOVERNANCE] == 0


def test_probing_capacity_data_integrations_and_users_with_a_mitigation_is_risks():
    probed = _measured("How much time can your team give each week? Where does the data live today, spreadsheets? "
                       "We need the ERP integration and SSO, and training for the end users; what worries you most? "
                       "Let's build in a buffer before go-live.")
    skipped = _measured("The software is great, it will be fine.")

    assert probed[implementation.RISKS] == 100
    assert skipped[implementation.RISKS] == 0


def test_plain_status_and_options_are_candour_and_spin_or_blame_is_not():
    plain = implementation.RUBRIC.measure(_call(
        OPENED, "To be honest, we are behind on the migration.", "Why?", "The real reason is our mapping was wrong.",
        "So what now?", "The options are a later go-live or a smaller first phase."))
    spun = implementation.RUBRIC.measure(_call(
        OPENED, "Don't worry, everything is on track.", "Really? We heard it slipped.",
        "It's your fault, your data was late."))

    assert plain[implementation.CANDOUR] == 100
    assert spun[implementation.CANDOUR] == 0


def test_an_implementation_reading_is_scored_on_its_own_factors_and_the_model_is_asked_for_them():
    turns = _call(OPENED, "The agenda today is scope and owners.")

    meter = score(measure(turns), Blueprint.IMPLEMENTATION, implementation.RUBRIC.tally(turns))

    assert track_rubric(Blueprint.IMPLEMENTATION) is implementation.RUBRIC
    assert list(meter.factors) == list(implementation.RUBRIC.names)
    assert meter.weights == implementation.RUBRIC.weights
    assert list(rubric_of(Blueprint.IMPLEMENTATION).meanings) == list(implementation.RUBRIC.names)


def test_a_reading_lists_its_factors_in_its_own_rubrics_order_though_hr_names_one_alike():
    stored = dict(reversed(list(implementation.RUBRIC.weights.items())))  # as a JSON column may give them back

    assert ordered_factors(stored) == list(implementation.RUBRIC.names)
    assert ordered_factors(hr.RUBRIC.weights) == list(hr.RUBRIC.names)
