#!/usr/bin/python3
"""Checks of deploy/k8s: renders each kustomization (with `kubectl kustomize` when kubectl is installed, and
always with the small renderer below, which must agree with it) and checks the fields that matter: API
versions and kinds, selectors, gRPC probe ports, the shutdown budget, GPU requests and placement, the
autoscaler's metric, the volumes, the PyTorchJob's shape, and that every flag passed is one the binaries
define (--binaries: the built genailab-server, genailab-trainer and genailab-train).
"""
import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploy_testlib import flags, known_flags, unknown_flags  # noqa: E402

K8S = os.path.join(os.path.dirname(os.path.abspath(__file__)), "k8s")
KUSTOMIZATIONS = ("overlays/cpu", "overlays/gpu", "monitoring")
API_VERSIONS = {
    "Deployment": "apps/v1", "Service": "v1", "PersistentVolumeClaim": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
    "PyTorchJob": "kubeflow.org/v1", "PodMonitor": "monitoring.coreos.com/v1",
}
# Strategic-merge keys of the lists the overlays patch (Kubernetes' patchMergeKey of each field).
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
               "volumeMounts": "mountPath", "ports": "containerPort"}
SHUTDOWN_MARGIN_SECONDS = 5
# Binary name -> path (command-line --binaries), for checking the flags the manifests pass.
PROGRAMS = {}


# A renderer for the kustomize features these manifests use: resources, images, patches (strategic merge
# for built-in kinds, RFC 6902 JSON patches with a target).

def render(directory):
    with open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8") as f:
        kustomization = yaml.safe_load(f)
    unknown = set(kustomization) - {"apiVersion", "kind", "resources", "images", "patches"}
    if unknown:
        raise ValueError(f"{directory}: the test's renderer does not know {sorted(unknown)}")
    documents = []
    for resource in kustomization.get("resources", []):
        path = os.path.join(directory, resource)
        if os.path.isdir(path):
            documents += render(path)
        else:
            with open(path, encoding="utf-8") as f:
                documents += [copy.deepcopy(d) for d in yaml.safe_load_all(f) if d]
    for patch in kustomization.get("patches", []):
        with open(os.path.join(directory, patch["path"]), encoding="utf-8") as f:
            content = yaml.safe_load(f)
        if isinstance(content, list):
            target = patch["target"]
            matches = [d for d in documents if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]]
            if not matches:
                raise ValueError(f"{patch['path']}: no {target['kind']} {target['name']}")
            for document in matches:
                for operation in content:
                    _json_patch(document, operation)
        else:
            matches = [d for d in documents if d["kind"] == content["kind"]
                       and d["metadata"]["name"] == content["metadata"]["name"]]
            if len(matches) != 1:
                raise ValueError(f"{patch['path']}: {len(matches)} targets")
            _strategic_merge(matches[0], content)
    for image in kustomization.get("images", []):
        for document in documents:
            _set_images(document, image)
    return documents


def _strategic_merge(base, patch, key=None):
    if isinstance(base, dict) and isinstance(patch, dict):
        for name, value in patch.items():
            base[name] = _strategic_merge(base[name], value, name) if name in base else copy.deepcopy(value)
        return base
    if isinstance(base, list) and isinstance(patch, list) and key in _MERGE_KEYS:
        merge_key = _MERGE_KEYS[key]
        for item in patch:
            existing = [b for b in base if b.get(merge_key) == item.get(merge_key)]
            if existing:
                _strategic_merge(existing[0], item)
            else:
                base.append(copy.deepcopy(item))
        return base
    return copy.deepcopy(patch)


def _json_patch(document, operation):
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        last = int(last)
    if operation["op"] in ("add", "replace"):
        if operation["op"] == "replace" and (last not in node if isinstance(node, dict) else last >= len(node)):
            raise ValueError(f"replace of a missing {operation['path']}")
        node[last] = copy.deepcopy(operation["value"])
    elif operation["op"] == "remove":
        del node[last]
    else:
        raise ValueError(f"unsupported JSON patch op {operation['op']}")


def _set_images(node, image):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    name = re.split(r"[:@]", container.get("image", ""), maxsplit=1)[0]
                    if name == image["name"]:
                        container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
            else:
                _set_images(value, image)
    elif isinstance(node, list):
        for child in node:
            _set_images(child, image)


def _kustomize_version(kubectl):
    """(major, minor) of the kustomize that `kubectl kustomize` embeds; None if kubectl does not say."""
    result = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True,
                            check=False, timeout=30)
    try:
        match = re.match(r"v(\d+)\.(\d+)", json.loads(result.stdout).get("kustomizeVersion", ""))
    except ValueError:
        return None
    return (int(match.group(1)), int(match.group(2))) if match else None


def by_key(documents):
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}


# Checks.

def pod_specs(document):
    """(where, pod spec) of every pod template in a workload."""
    if document["kind"] == "Deployment":
        return [(document["metadata"]["name"], document["spec"]["template"]["spec"])]
    if document["kind"] == "PyTorchJob":
        return [(f"{document['metadata']['name']}/{role}", spec["template"]["spec"])
                for role, spec in document["spec"]["pytorchReplicaSpecs"].items()]
    return []


class RenderedManifestsTest(unittest.TestCase):
    rendered = {}

    @classmethod
    def setUpClass(cls):
        cls.rendered = {name: by_key(render(os.path.join(K8S, name))) for name in KUSTOMIZATIONS}

    def test_kubectl_kustomize_agrees_with_the_renderer(self):
        kubectl = shutil.which("kubectl")
        version = _kustomize_version(kubectl) if kubectl else None
        if version is None or version < (4, 0):
            # Debian 12's kubernetes-client (1.20) embeds kustomize 2, which predates the `patches` field.
            print(f"kubectl {'is not installed' if kubectl is None else f'embeds kustomize {version}'}: "
                  "checked the test's own rendering only", file=sys.stderr)
            return
        # kustomize does not read symlinked files (Bazel's runfiles are symlinks): render a real copy.
        copied = os.path.join(os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(), "k8s")
        shutil.rmtree(copied, ignore_errors=True)
        shutil.copytree(K8S, copied, symlinks=False)
        for name in KUSTOMIZATIONS:
            with self.subTest(kustomization=name):
                result = subprocess.run([kubectl, "kustomize", os.path.join(copied, name)], capture_output=True,
                                        text=True, check=False, timeout=60)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(by_key(d for d in yaml.safe_load_all(result.stdout) if d), self.rendered[name])

    def test_kinds_api_versions_and_names(self):
        for name, documents in self.rendered.items():
            for (kind, object_name), document in documents.items():
                with self.subTest(kustomization=name, object=object_name):
                    self.assertEqual(document["apiVersion"], API_VERSIONS[kind])
                    self.assertRegex(object_name, r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        self.assertEqual(set(self.rendered["overlays/cpu"]), set(self.rendered["overlays/gpu"]))
        self.assertEqual({kind for kind, _ in self.rendered["overlays/cpu"]},
                         {"Deployment", "Service", "PersistentVolumeClaim", "HorizontalPodAutoscaler",
                          "PodDisruptionBudget", "PyTorchJob"})

    def test_workloads_select_their_pods_and_run_unprivileged(self):
        for name in ("overlays/cpu", "overlays/gpu"):
            for (kind, object_name), document in self.rendered[name].items():
                if kind == "Deployment":
                    labels = document["spec"]["template"]["metadata"]["labels"]
                    for key, value in document["spec"]["selector"]["matchLabels"].items():
                        self.assertEqual(labels[key], value)
                for where, spec in pod_specs(document):
                    self.assertTrue(spec["securityContext"]["runAsNonRoot"], where)
                    self.assertNotEqual(spec["securityContext"]["runAsUser"], 0, where)
                    for container in spec["containers"]:
                        env = {e["name"] for e in container.get("env", [])}
                        for reference in re.findall(r"\$\((\w+)\)", " ".join(container.get("args", []))):
                            self.assertIn(reference, env, f"{where}: $({reference}) is not in env")

    def server(self, overlay):
        return self.rendered[overlay][("Deployment", "genailab-server")]

    def test_server_probes_the_grpc_health_service_on_its_grpc_port(self):
        for overlay in ("overlays/cpu", "overlays/gpu"):
            container = self.server(overlay)["spec"]["template"]["spec"]["containers"][0]
            grpc_port = int(flags(container["args"])["grpc_address"].rsplit(":", 1)[1])
            self.assertIn(grpc_port, [p["containerPort"] for p in container["ports"] if p["name"] == "grpc"])
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                self.assertEqual(container[probe]["grpc"]["port"], grpc_port, probe)
            annotations = self.server(overlay)["spec"]["template"]["metadata"]["annotations"]
            metrics_port = flags(container["args"])["metrics_address"].rsplit(":", 1)[1]
            self.assertEqual(annotations["prometheus.io/port"], metrics_port)

    def test_grace_period_covers_pre_stop_and_drain(self):
        spec = self.server("overlays/cpu")["spec"]["template"]["spec"]
        container = spec["containers"][0]
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(command[0], "sleep")
        drain = float(flags(container["args"])["drain_seconds"])
        self.assertEqual(spec["terminationGracePeriodSeconds"],
                         int(float(command[1]) + drain + SHUTDOWN_MARGIN_SECONDS))

    def test_headless_grpc_service_matches_the_server(self):
        service = self.rendered["overlays/cpu"][("Service", "genailab-server")]
        self.assertEqual(service["spec"]["clusterIP"], "None")
        template = self.server("overlays/cpu")["spec"]["template"]
        for key, value in service["spec"]["selector"].items():
            self.assertEqual(template["metadata"]["labels"][key], value)
        port_names = {p["name"] for p in template["spec"]["containers"][0]["ports"]}
        grpc = [p for p in service["spec"]["ports"] if p["name"] == "grpc"][0]
        self.assertEqual(grpc["appProtocol"], "grpc")
        self.assertIn(grpc["targetPort"], port_names)

    def test_autoscaler_scales_the_server_on_the_adapter_queue_metric(self):
        hpa = self.rendered["overlays/cpu"][("HorizontalPodAutoscaler", "genailab-server")]
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], "genailab-server")
        metric = hpa["spec"]["metrics"][0]
        self.assertEqual(metric["type"], "Pods")
        with open(os.path.join(K8S, "prometheus-adapter-values.yaml"), encoding="utf-8") as f:
            rule = yaml.safe_load(f)["rules"]["custom"][0]
        self.assertEqual(metric["pods"]["metric"]["name"], rule["name"]["as"])
        self.assertTrue(rule["seriesQuery"].startswith(rule["name"]["as"] + "{"))
        self.assertEqual(set(rule["resources"]["overrides"]), {"namespace", "pod"})
        self.assertGreater(hpa["spec"]["maxReplicas"], hpa["spec"]["minReplicas"])

    def test_volumes_claim_existing_pvcs_and_the_repository_is_shared(self):
        documents = self.rendered["overlays/cpu"]
        claims = {name for kind, name in documents if kind == "PersistentVolumeClaim"}
        self.assertIn("ReadWriteMany",
                      documents[("PersistentVolumeClaim", "genailab-model-repository")]["spec"]["accessModes"])
        users = set()
        for document in documents.values():
            for where, spec in pod_specs(document):
                for volume in spec.get("volumes", []):
                    if "persistentVolumeClaim" in volume:
                        claim = volume["persistentVolumeClaim"]["claimName"]
                        self.assertIn(claim, claims, where)
                        if claim == "genailab-model-repository":
                            users.add(where)
                            mounts = [m for c in spec["containers"] for m in c["volumeMounts"]
                                      if m["name"] == volume["name"]]
                            self.assertEqual([m["mountPath"] for m in mounts], ["/models"], where)
        self.assertEqual(users, {"genailab-server", "genailab-trainer", "genailab-train/Master",
                                 "genailab-train/Worker"})

    def test_pytorchjob_has_the_training_operator_shape(self):
        job = self.rendered["overlays/cpu"][("PyTorchJob", "genailab-train")]
        replicas = job["spec"]["pytorchReplicaSpecs"]
        self.assertEqual(set(replicas), {"Master", "Worker"})
        self.assertEqual(replicas["Master"]["replicas"], 1)
        for role, replica in replicas.items():
            container = replica["template"]["spec"]["containers"][0]
            self.assertEqual(container["name"], "pytorch", role)
            self.assertEqual(container["command"], ["genailab-train"], role)
            self.assertEqual(flags(container["args"])["repository"], "/models", role)
            # The operator sets the rendezvous variables; a manifest that set them would break it.
            names = {e["name"] for e in container.get("env", [])}
            self.assertFalse(names & {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"}, role)
        master = replicas["Master"]["template"]["spec"]["containers"][0]
        self.assertIn("pytorchjob-port", [p["name"] for p in master["ports"]])
        self.assertEqual(master["args"], replicas["Worker"]["template"]["spec"]["containers"][0]["args"])

    def test_containers_use_flags_the_binaries_define(self):
        known = {program: known_flags(path) for program, path in PROGRAMS.items()}
        self.assertEqual(set(known), {"genailab-server", "genailab-trainer", "genailab-train"})
        for name in ("overlays/cpu", "overlays/gpu"):
            for document in self.rendered[name].values():
                for where, spec in pod_specs(document):
                    container = spec["containers"][0]
                    program = container.get("command", ["genailab-server"])[0]
                    self.assertEqual(unknown_flags(container["args"], known[program]), [], where)

    def test_gpu_overlay_requests_gpus_on_gpu_nodes(self):
        for document in self.rendered["overlays/gpu"].values():
            for where, spec in pod_specs(document):
                container = spec["containers"][0]
                self.assertEqual(container["resources"]["limits"]["nvidia.com/gpu"], 1, where)
                self.assertEqual(spec["nodeSelector"], {"nvidia.com/gpu.present": "true"}, where)
                self.assertIn({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                              spec["tolerations"], where)
                env = {e["name"]: e["value"] for e in container["env"]}
                self.assertEqual(env["GENAILAB_DEVICE"], "cuda:0", where)
                self.assertTrue(container["image"].endswith(":cuda"), where)

    def test_cpu_overlay_requests_no_gpu(self):
        for document in self.rendered["overlays/cpu"].values():
            for where, spec in pod_specs(document):
                self.assertNotIn("nvidia.com/gpu", yaml.safe_dump(spec), where)
                container = spec["containers"][0]
                self.assertEqual({e["name"]: e["value"] for e in container["env"]}["GENAILAB_DEVICE"], "cpu")
                self.assertTrue(container["image"].endswith(":cpu"), where)

    def test_pod_monitor_scrapes_the_metrics_ports_with_job_names(self):
        monitor = self.rendered["monitoring"][("PodMonitor", "genailab")]
        self.assertEqual(monitor["spec"]["jobLabel"], "app.kubernetes.io/name")
        self.assertEqual(monitor["spec"]["podMetricsEndpoints"][0]["port"], "metrics")
        for name in ("genailab-server", "genailab-trainer"):
            self.assertIn(name, monitor["spec"]["selector"]["matchExpressions"][0]["values"])


class RendererTest(unittest.TestCase):
    def test_strategic_merge_merges_lists_by_key_and_replaces_others(self):
        base = {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}], "args": ["--p"]}]}
        _strategic_merge(base, {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}],
                                                "args": ["--q"]}]})
        self.assertEqual(base, {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"},
                                                                      {"name": "Y", "value": "2"}],
                                                "args": ["--q"]}]})

    def test_json_patch_replace_of_a_missing_path_fails(self):
        with self.assertRaisesRegex(ValueError, "replace of a missing /spec/x"):
            _json_patch({"spec": {}}, {"op": "replace", "path": "/spec/x", "value": 1})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binaries", nargs="*", default=[])
    args, rest = parser.parse_known_args()
    PROGRAMS.update((os.path.basename(path), os.path.abspath(path)) for path in args.binaries)
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
