"""Reads served from caches and memoised responses change as soon as the persona does."""

import uuid

from google.protobuf import field_mask_pb2
from sparring.persona.v1 import persona_service_pb2 as pb


async def test_get_list_and_render_show_an_update_at_once(personas):
    tag = uuid.uuid4().hex[:8]
    persona = (await personas.CreatePersona(pb.CreatePersonaRequest(persona=pb.Persona(
        slug=f"fresh-{tag}", display_name="Before", role="CTO", blueprint=pb.BLUEPRINT_SECURITY, difficulty=2,
        domains=[f"fresh-{tag}"], prompt_template="Old {persona.name}", first_message_template="Hi")))).persona
    request = pb.RenderPromptRequest(persona=persona.name)
    listing = pb.ListPersonasRequest(domain=f"fresh-{tag}")
    # Read twice so the caches and memos hold the persona.
    for _ in range(2):
        assert (await personas.GetPersona(pb.GetPersonaRequest(name=persona.name))).persona.display_name == "Before"
        assert [p.display_name for p in (await personas.ListPersonas(listing)).personas] == ["Before"]
        assert (await personas.RenderPrompt(request)).system_prompt == "Old Before"

    persona.display_name, persona.prompt_template = "After", "New {persona.name}"
    await personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=persona, update_mask=field_mask_pb2.FieldMask(paths=["display_name", "prompt_template"])))

    assert (await personas.GetPersona(pb.GetPersonaRequest(name=persona.name))).persona.display_name == "After"
    assert [p.display_name for p in (await personas.ListPersonas(listing)).personas] == ["After"]
    rendered = await personas.RenderPrompt(request)
    assert rendered.system_prompt == "New After"
    assert rendered.persona_revision == 2
