"""The Kubernetes manifests (deploy/k8s) as a cluster takes them: every document valid against the Kubernetes API's
schemas (bundled with kubernetes-validate: no cluster, no network), cert-manager's documents against the fields they
use, and what deploy/README.md promises checked across documents: TLS on the grpc port, probes on the plaintext
health port, the identity provider's settings and each service's token, hardened pods, a PodDisruptionBudget each,
and NetworkPolicies that admit exactly the callers named by the addresses the Deployments set."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import jsonschema
import kubernetes_validate
import pytest
import yaml

from analysis_svc.config import AnalysisSettings
from learning_svc.config import LearningSettings
from persona_svc.config import PersonaSettings
from svckit.settings import ServiceSettings
from transcript_svc.config import TranscriptSettings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "persona": PersonaSettings, "transcript": TranscriptSettings, "analysis": AnalysisSettings,
    "learning": LearningSettings,
}
SERVICES = tuple(SETTINGS)
HEALTH_PORTS = {"persona": 50061, "transcript": 50062, "analysis": 50063, "learning": 50064}
CERTIFICATES = MANIFESTS / "cert-manager"
KUSTOMIZATION = yaml.safe_load((CERTIFICATES / "kustomization.yaml").read_text())
NAMESPACE = KUSTOMIZATION["namespace"]  # the one the certificates' namespaced names are written for
USER = 10001
PART_OF = {"app.kubernetes.io/part-of": "sparring"}
AUTH_KEYS = {"AUTH_JWKS": "jwks", "AUTH_ISSUER": "issuer", "AUTH_AUDIENCE": "audience"}
OUTSIDE_CLIENTS = [{"podSelector": {"matchLabels": {"sparring.dev/client": "true"}}},
                   {"namespaceSelector": {"matchLabels": {"sparring.dev/ingress": "true"}}}]
MONITORING = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


def documents(folder: Path) -> list[tuple[str, dict]]:
    return [(str(path.relative_to(ROOT)), document) for path in sorted(folder.glob("*.yaml"))
            if path.name != "kustomization.yaml"
            for document in yaml.safe_load_all(path.read_text()) if document]


# `kubectl apply -f deploy/k8s/` takes the folder's own files, not its sub-folders.
DEFAULT_APPLY = documents(MANIFESTS)
CERT_MANAGER = documents(CERTIFICATES)


def document_id(entry: tuple[str, dict]) -> str:
    path, document = entry
    return f"{path}:{document['kind']}/{document['metadata']['name']}"


def named(kind: str) -> dict[str, dict]:
    return {document["metadata"]["name"]: document for _, document in DEFAULT_APPLY + CERT_MANAGER
            if document["kind"] == kind}


def pod(service: str) -> dict:
    return named("Deployment")[service]["spec"]["template"]["spec"]


def container(service: str) -> dict:
    (only,) = pod(service)["containers"]
    return only


def env(service: str) -> dict[str, dict]:
    return {variable["name"]: variable for variable in container(service)["env"]}


def port(service: str, name: str) -> int:
    return {entry["name"]: entry["containerPort"] for entry in container(service)["ports"]}[name]


def prefix(service: str) -> str:
    return SETTINGS[service].model_config["env_prefix"]


def mount_of(service: str, source: str, name: str) -> dict:
    """The container's mount of the volume that holds the named secret or ConfigMap."""
    name_key = {"secret": "secretName", "configMap": "name"}[source]
    (volume,) = [volume for volume in pod(service)["volumes"] if volume.get(source, {}).get(name_key) == name]
    (mount,) = [mount for mount in container(service)["volumeMounts"] if mount["name"] == volume["name"]]
    return {**mount, "volume": volume[source]}


def addresses(service: str) -> dict[str, str]:
    """The services this one calls, by the address settings its code reads, to the address its Deployment sets."""
    return {field.removesuffix("_address"): env(service)[f"{prefix(service)}{field.upper()}"]["value"]
            for field in SETTINGS[service].model_fields if field.endswith("_address")}


CALLS = [(caller, callee) for caller in SERVICES for callee in addresses(caller)]


def callers(service: str) -> list[str]:
    return [caller for caller, callee in CALLS if callee == service]


def app(service: str) -> dict:
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": service}}}


def peers_by_port(rules: list[dict], peers_key: str) -> dict[tuple[int, str], list[str]]:
    """Each port a policy's rules open, to the peers admitted on it (each peer as sorted JSON, to compare)."""
    opened: dict[tuple[int, str], list[str]] = {}
    for rule in rules:
        for opening in rule["ports"]:
            opened.setdefault((opening["port"], opening["protocol"]), []).extend(
                json.dumps(peer, sort_keys=True) for peer in rule.get(peers_key, [{}]))
    return {key: sorted(peers) for key, peers in opened.items()}


def as_peers(peers: list[dict]) -> list[str]:
    return sorted(json.dumps(peer, sort_keys=True) for peer in peers)


@pytest.mark.parametrize("entry", DEFAULT_APPLY, ids=document_id)
def test_every_document_is_valid_against_the_kubernetes_schemas(entry):
    # Strict: a misspelt or misplaced field is an error here, not a field the API server drops.
    kubernetes_validate.validate(entry[1], KUBERNETES_VERSION, strict=True)


# cert-manager's CRDs carry their schema, which kubernetes-validate does not bundle: the fields these documents use,
# every other field of cert-manager.io/v1 by name only, so that a misspelt one fails.
NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
DNS_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
DURATION = {"type": "string", "pattern": r"^([0-9]+(h|m|s))+$"}
USAGES = ["signing", "digital signature", "content commitment", "key encipherment", "key agreement",
          "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
          "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
          "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"]
OTHER_CERTIFICATE_FIELDS = ["additionalOutputFormats", "commonName", "emailAddresses", "encodeUsagesInRequest",
                            "ipAddresses", "isCA", "keystores", "literalSubject", "nameConstraints", "otherNames",
                            "renewBeforePercentage", "revisionHistoryLimit", "secretTemplate", "subject", "uris"]


def cert_manager_resource(spec: dict) -> dict:
    return {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
            "additionalProperties": False,
            "properties": {"apiVersion": {"const": "cert-manager.io/v1"}, "kind": {"type": "string"},
                           "metadata": {"type": "object", "required": ["name"],
                                        "properties": {"name": NAME, "labels": {"type": "object"}}},
                           "spec": {"type": "object", "additionalProperties": False, **spec}}}


def fields(schemas: dict, others: list[str]) -> dict:
    return {"properties": {**schemas, **{name: {} for name in others}}}


CERT_MANAGER_SCHEMAS = {
    "Issuer": cert_manager_resource({
        "minProperties": 1, "maxProperties": 1,
        **fields({"ca": {"type": "object", "required": ["secretName"], "additionalProperties": False,
                         "properties": {"secretName": NAME, "crlDistributionPoints": {"type": "array"},
                                        "issuingCertificateURLs": {"type": "array"},
                                        "ocspServers": {"type": "array"}}}},
                 ["acme", "selfSigned", "vault", "venafi"])}),
    "Certificate": cert_manager_resource({
        "required": ["secretName", "issuerRef"],
        **fields({"secretName": NAME,
                  "issuerRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                                "properties": {"name": NAME, "kind": {"enum": ["Issuer", "ClusterIssuer"]},
                                               "group": {"type": "string"}}},
                  "dnsNames": {"type": "array", "minItems": 1, "items": DNS_NAME},
                  "usages": {"type": "array", "items": {"enum": USAGES}},
                  "duration": DURATION, "renewBefore": DURATION,
                  "privateKey": {"type": "object", "additionalProperties": False,
                                 "properties": {"algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                                                "size": {"type": "integer"},
                                                "encoding": {"enum": ["PKCS1", "PKCS8"]},
                                                "rotationPolicy": {"enum": ["Never", "Always"]}}}},
                 OTHER_CERTIFICATE_FIELDS)}),
}


@pytest.mark.parametrize("entry", CERT_MANAGER, ids=document_id)
def test_every_cert_manager_document_has_the_fields_cert_manager_requires(entry):
    document = entry[1]
    assert document["kind"] in CERT_MANAGER_SCHEMAS
    jsonschema.validate(document, CERT_MANAGER_SCHEMAS[document["kind"]])


def test_cert_manager_resources_stay_out_of_the_default_apply():
    # A cluster without cert-manager's CRDs would refuse them, and with them the whole `kubectl apply`.
    assert not [document_id(entry) for entry in DEFAULT_APPLY if entry[1]["apiVersion"].startswith("cert-manager.io")]
    assert {document["kind"] for _, document in CERT_MANAGER} == set(CERT_MANAGER_SCHEMAS)


def test_the_kustomization_writes_its_namespace_into_every_namespaced_certificate_name():
    (replacement,) = KUSTOMIZATION["replacements"]
    (target,) = replacement["targets"]
    written = {int(path.rsplit(".", 1)[1]) for path in target["fieldPaths"]}
    for certificate in named("Certificate").values():
        namespaced = {index for index, name in enumerate(certificate["spec"]["dnsNames"]) if name.endswith(".svc")}
        assert namespaced == written, certificate["metadata"]["name"]


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl (with its built-in kustomize) is not installed")
def test_the_certificates_built_for_another_namespace_name_that_namespace(tmp_path):
    # As deploy/README.md says to: a copy of the folder whose kustomization names another namespace.
    folder = shutil.copytree(CERTIFICATES, tmp_path / "cert-manager")
    (folder / "kustomization.yaml").write_text(yaml.safe_dump({**KUSTOMIZATION, "namespace": "coaching"}))
    built = subprocess.run(["kubectl", "kustomize", str(folder)], check=True, capture_output=True, text=True,
                           timeout=60).stdout
    certificates = [document for document in yaml.safe_load_all(built) if document["kind"] == "Certificate"]
    assert len(certificates) == len(SERVICES)
    for certificate in certificates:
        name = certificate["metadata"]["name"]
        assert certificate["metadata"]["namespace"] == "coaching"
        assert certificate["spec"]["dnsNames"] == [name, f"{name}-replicas", f"{name}.coaching.svc",
                                                   f"{name}-replicas.coaching.svc"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_grpc_port_serves_tls_with_the_services_certificate(service):
    mount = mount_of(service, "secret", f"{service}-tls")
    assert mount["readOnly"] is True and "subPath" not in mount
    assert mount["volume"]["defaultMode"] == 0o440, "the key is readable by the service's group alone"
    directory = PurePosixPath(mount["mountPath"])
    variables = env(service)
    assert {name: variables[name]["value"] for name in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")} == {
        "TLS_CERT_FILE": str(directory / "tls.crt"), "TLS_KEY_FILE": str(directory / "tls.key"),
        "TLS_CA_FILE": str(directory / "ca.crt")}
    # mTLS is one switch for every service, off unless the ConfigMap says `require`.
    assert variables["TLS_CLIENT_AUTH"]["valueFrom"] == {
        "configMapKeyRef": {"name": "sparring-auth", "key": "tls-client-auth", "optional": True}}
    assert "SPARRING_INSECURE_DEVELOPMENT" not in variables

    certificate = named("Certificate")[service]["spec"]
    assert certificate["secretName"] == f"{service}-tls"
    assert {"server auth", "client auth"} <= set(certificate["usages"])
    assert {service, f"{service}-replicas", f"{service}.{NAMESPACE}.svc"} <= set(certificate["dnsNames"])
    issuer = named("Issuer")[certificate["issuerRef"]["name"]]
    assert issuer["spec"]["ca"]["secretName"] == "sparring-ca"


@pytest.mark.parametrize("service", SERVICES)
def test_callers_are_checked_with_the_identity_providers_settings_and_the_service_calls_with_its_own_token(service):
    variables = env(service)
    for name, key in AUTH_KEYS.items():
        assert variables[name]["valueFrom"] == {"configMapKeyRef": {"name": "sparring-auth", "key": key}}, name
    jwks_file = mount_of(service, "configMap", "sparring-auth")
    assert jwks_file["readOnly"] is True and "subPath" not in jwks_file
    assert jwks_file["volume"]["optional"] is True, "an issuer's URL needs no file"

    # The whole secret as a directory: the kubelet replaces a renewed token there (never under a subPath), and the
    # service reads the file again.
    token = mount_of(service, "secret", f"{service}-service-token")
    assert token["readOnly"] is True and "subPath" not in token
    assert token["volume"]["defaultMode"] == 0o440
    token_file = PurePosixPath(variables[f"{prefix(service)}SERVICE_TOKEN_FILE"]["value"])
    assert token_file.parent == PurePosixPath(token["mountPath"])


@pytest.mark.parametrize("service", SERVICES)
def test_the_probes_ask_the_plaintext_health_port_that_nothing_else_opens(service):
    health = port(service, "health")
    assert health == HEALTH_PORTS[service] != port(service, "grpc")
    assert env(service)[f"{prefix(service)}HEALTH_PORT"]["value"] == str(health)
    readiness, liveness = container(service)["readinessProbe"]["grpc"], container(service)["livenessProbe"]["grpc"]
    assert readiness == {"port": health, "service": f"sparring.{service}.v1.{service.title()}Service"}
    assert liveness == {"port": health}
    # The kubelet's probes need no Service and are not subject to NetworkPolicies.
    exposed = [entry for document in named("Service").values()
               if document["spec"]["selector"] == named("Deployment")[service]["spec"]["selector"]["matchLabels"]
               for entry in document["spec"]["ports"]]
    assert exposed and not [entry for entry in exposed if entry["targetPort"] in ("health", health)]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_listens_on_the_ports_its_code_defaults_to(service):
    defaults = SETTINGS[service].model_fields
    assert port(service, "grpc") == defaults["grpc_port"].default
    assert port(service, "metrics") == defaults["metrics_port"].default
    assert named("Deployment")[service]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(
        port(service, "metrics"))


@pytest.mark.parametrize("service", SERVICES)
def test_pods_and_containers_run_hardened(service):
    spec = pod(service)
    assert spec["automountServiceAccountToken"] is False
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec)
    for each in spec["containers"] + spec.get("initContainers", []):
        context = {**spec["securityContext"], **each["securityContext"]}  # a container's own settings win
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == context["runAsGroup"] == USER
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert not context.get("privileged")


@pytest.mark.parametrize("service", SERVICES)
def test_a_disruption_budget_keeps_a_replica_of_each_service(service):
    budget = named("PodDisruptionBudget")[service]["spec"]
    assert budget["selector"] == named("Deployment")[service]["spec"]["selector"]
    assert budget["minAvailable"] >= 1


@pytest.mark.parametrize(("caller", "callee"), CALLS, ids=[f"{caller}-calls-{callee}" for caller, callee in CALLS])
def test_a_service_calls_another_through_its_headless_service_by_a_certified_name(caller, callee):
    host, callee_port = addresses(caller)[callee].rsplit(":", 1)
    assert host == f"{callee}-replicas"
    headless = named("Service")[host]["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["selector"] == named("Deployment")[callee]["spec"]["selector"]["matchLabels"]
    assert {(entry["port"], entry["targetPort"]) for entry in headless["ports"]} == {(int(callee_port), "grpc")}
    assert int(callee_port) == port(callee, "grpc")
    # The caller checks the callee's certificate against the host it dials.
    assert host in named("Certificate")[callee]["spec"]["dnsNames"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_network_policy_admits_exactly_the_services_callers_clients_and_prometheus(service):
    policy = named("NetworkPolicy")[service]["spec"]
    assert policy["podSelector"] == named("Deployment")[service]["spec"]["selector"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert callers(service), "every service is called by another"
    assert peers_by_port(policy["ingress"], "from") == {
        (port(service, "grpc"), "TCP"): as_peers([app(caller) for caller in callers(service)] + OUTSIDE_CLIENTS),
        (port(service, "metrics"), "TCP"): as_peers(MONITORING)}
    assert peers_by_port(policy["egress"], "to") == {
        (port(callee, "grpc"), "TCP"): as_peers([app(callee)]) for callee in addresses(service)}


def test_every_sparring_pod_is_denied_by_default_and_reaches_only_dns_postgresql_and_https():
    policies = named("NetworkPolicy")
    deny = policies["sparring-default-deny"]["spec"]
    assert deny == {"podSelector": {"matchLabels": PART_OF}, "policyTypes": ["Ingress", "Egress"]}
    for service in SERVICES:
        assert PART_OF.items() <= named("Deployment")[service]["spec"]["template"]["metadata"]["labels"].items()

    egress = policies["sparring-egress"]["spec"]
    assert egress["podSelector"] == {"matchLabels": PART_OF} and egress["policyTypes"] == ["Egress"]
    dns = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    anywhere = [{}]
    assert peers_by_port(egress["egress"], "to") == {
        (53, "UDP"): as_peers(dns), (53, "TCP"): as_peers(dns),
        (5432, "TCP"): as_peers(anywhere), (443, "TCP"): as_peers(anywhere)}

    # The model endpoint, for the services that have the openai engine.
    model = policies["sparring-model-endpoint"]["spec"]
    (selected,) = model["podSelector"]["matchExpressions"]
    engines = [service for service in SERVICES if "openai_base_url" in SETTINGS[service].model_fields]
    assert selected == {"key": "app.kubernetes.io/name", "operator": "In", "values": engines}
    assert peers_by_port(model["egress"], "to") == {(443, "TCP"): as_peers(anywhere)}


def test_the_image_runs_as_the_pods_user_with_the_services_only():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^USER (\d+)$", dockerfile, re.M)[1] == str(USER)
    assert re.search(r'^CMD \["python", "-m", "\w+_svc"\]$', dockerfile, re.M)
    (install,) = re.findall(r"^RUN pip install .*$", dockerfile, re.M)
    assert "[" not in install, "no extra: the development one brings the embedded PostgreSQL"
    for service in SERVICES:
        assert container(service)["command"] == ["python", "-m", f"{service}_svc"]
