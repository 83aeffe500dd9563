from analysis_svc.app import SPEC
from svckit.runtime import main

main(SPEC)
