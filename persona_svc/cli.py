"""A small command line for trying the persona service: list, get, search, render."""

from __future__ import annotations

import argparse
import sys

import grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from devtools.credentials import development_channel
from devtools.endpoints import endpoint
from svckit import eventloop
from svckit.blueprints import blueprint_name, blueprint_value


def _persona_line(p: pb.Persona) -> str:
    blueprint = blueprint_name(p.blueprint)
    return f"{p.name:<36} {p.display_name:<24} {blueprint:<15} difficulty {p.difficulty}  {p.role}"


async def _run(args: argparse.Namespace) -> None:
    async with development_channel(args.address, "author", subject="persona-cli") as channel:
        stub = persona_service_pb2_grpc.PersonaServiceStub(channel)
        if args.command == "list":
            blueprint = blueprint_value(args.blueprint or "")
            token = ""
            while True:
                page = await stub.ListPersonas(pb.ListPersonasRequest(blueprint=blueprint, page_token=token,
                                                                      page_size=50))
                for persona in page.personas:
                    print(_persona_line(persona))
                token = page.next_page_token
                if not token:
                    break
        elif args.command == "get":
            print((await stub.GetPersona(pb.GetPersonaRequest(name=f"personas/{args.persona}"))).persona)
        elif args.command == "search":
            reply = await stub.SearchPersonas(pb.SearchPersonasRequest(query=args.query))
            for result in reply.results:
                print(f"{result.relevance:6.3f}  {_persona_line(result.persona)}")
        elif args.command == "render":
            reply = await stub.RenderPrompt(pb.RenderPromptRequest(
                persona=f"personas/{args.persona}", scenario=f"scenarios/{args.scenario}" if args.scenario else ""))
            print(reply.system_prompt)
            print("\nFirst message:", reply.first_message)
            print("Patches:", pb.PatchSource.Name(reply.patch_source), [p.patch for p in reply.applied_patches])


def main() -> None:
    parser = argparse.ArgumentParser(prog="persona_svc.cli", description=__doc__)
    parser.add_argument("--address", default=endpoint("persona").address)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list personas")
    listing.add_argument("--blueprint", help="sales, agentic_eng, fullstack, marketing, implementation, hr, security")
    commands.add_parser("get", help="show one persona").add_argument("persona", help="persona id, e.g. sarah-chen")
    commands.add_parser("search", help="search personas").add_argument("query")
    render = commands.add_parser("render", help="render a persona's prompt")
    render.add_argument("persona")
    render.add_argument("--scenario", default="")
    args = parser.parse_args()
    try:
        eventloop.run(_run(args))
    except grpc.aio.AioRpcError as error:
        sys.exit(f"{error.code().name}: {error.details()}")


if __name__ == "__main__":
    main()
