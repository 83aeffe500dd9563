from svckit.runtime import main
from transcript_svc.app import SPEC

main(SPEC)
