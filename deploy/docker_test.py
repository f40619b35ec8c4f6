#!/usr/bin/python3
"""Static checks of deploy/docker (no Docker engine runs on the development machines, and Debian 12 has no
hadolint): the rules that matter for the Dockerfiles, and the compose file's wiring.

Usage (from //deploy:docker_test): docker_test.py --targets <Bazel labels the test depends on>
    --binaries <the built server, trainer and client: for runtime_packages.sh and their flags>
"""
import argparse
import json
import os
import re
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploy_testlib import flags, known_flags, unknown_flags  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DOCKER = os.path.join(HERE, "docker")
DOCKERFILES = ("Dockerfile", "Dockerfile.cuda")
TARGETS = set()
BINARIES = []
# Binary name -> path, for checking the flags the images and compose pass to them.
PROGRAMS = {}


def parse_dockerfile(text):
    """[(instruction, arguments)] with line continuations joined and comments dropped."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += (" " if pending else "") + stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        instruction, _, arguments = pending.partition(" ")
        instructions.append((instruction.upper(), arguments.strip()))
        pending = ""
    return instructions


def stages(instructions):
    """[[instructions of stage 0], ...]; ARGs before the first FROM are left out."""
    result = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def global_args(instructions):
    values = {}
    for instruction, arguments in instructions:
        if instruction == "FROM":
            break
        if instruction == "ARG" and "=" in arguments:
            name, _, value = arguments.partition("=")
            values[name] = value
    return values


def is_pinned(image):
    """A digest, or a tag that names a version (has a digit and is not 'latest')."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and re.search(r"\d", tag) is not None


class DockerfileRulesTest(unittest.TestCase):
    def check(self, name, rule):
        with open(os.path.join(DOCKER, name), encoding="utf-8") as f:
            instructions = parse_dockerfile(f.read())
        with self.subTest(dockerfile=name):
            rule(instructions)

    def for_each(self, rule):
        for name in DOCKERFILES:
            self.check(name, rule)

    def test_base_images_are_pinned(self):
        def rule(instructions):
            arguments = global_args(instructions)
            stage_names = set()
            for stage in stages(instructions):
                words = stage[0][1].split()
                image = re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m.group(1), ""), words[0])
                if image not in stage_names:
                    self.assertTrue(is_pinned(image), f"FROM {words[0]} -> '{image}' is not pinned")
                if len(words) == 3 and words[1].upper() == "AS":
                    stage_names.add(words[2])
        self.for_each(rule)

    def test_multi_stage_with_a_build_and_a_runtime_stage(self):
        def rule(instructions):
            names = [stage[0][1].split()[-1] for stage in stages(instructions)]
            self.assertEqual(names, ["build", "runtime"])
            runtime = stages(instructions)[-1]
            # Nothing of the toolchain in the runtime stage.
            for instruction, arguments in runtime:
                if instruction == "RUN":
                    self.assertNotRegex(arguments, r"\b(bazel|g\+\+|-dev\b)")
        self.for_each(rule)

    def test_runs_as_an_unprivileged_user(self):
        def rule(instructions):
            users = [arguments for instruction, arguments in stages(instructions)[-1] if instruction == "USER"]
            self.assertTrue(users, "the runtime stage has no USER")
            user = users[-1].split(":")[0]
            self.assertNotIn(user, ("root", "0"))
        self.for_each(rule)

    def test_healthcheck_uses_the_grpc_health_service(self):
        def rule(instructions):
            checks = [arguments for instruction, arguments in stages(instructions)[-1]
                      if instruction == "HEALTHCHECK"]
            self.assertEqual(len(checks), 1)
            command = json.loads(checks[0].split("CMD", 1)[1])
            self.assertEqual(command[:4], ["python3", "-m", "genailab", "health"])
            self.assertIn("--target=127.0.0.1:50051", command)
        self.for_each(rule)

    def test_no_piped_installers_and_checked_downloads(self):
        def rule(instructions):
            for instruction, arguments in instructions:
                self.assertNotRegex(arguments, r"(curl|wget)[^|;&]*\|\s*(ba|z)?sh\b", "curl | sh")
                if instruction == "ADD":
                    self.assertNotRegex(arguments, r"https?://", "ADD of a URL: download and check a checksum")
                if instruction == "RUN" and re.search(r"\b(curl|wget)\b", arguments):
                    self.assertIn("sha256sum -c", arguments, "download without a checksum check")
        self.for_each(rule)

    def test_apt_installs_are_lean_and_clean_up(self):
        def rule(instructions):
            for instruction, arguments in instructions:
                if instruction == "RUN" and "apt-get install" in arguments:
                    self.assertIn("--no-install-recommends", arguments)
                    self.assertIn("rm -rf /var/lib/apt/lists/*", arguments)
                    self.assertIn("apt-get update", arguments)
        self.for_each(rule)

    def test_runtime_copies_set_their_owner(self):
        def rule(instructions):
            for instruction, arguments in stages(instructions)[-1]:
                if instruction in ("COPY", "ADD"):
                    self.assertRegex(arguments, r"--chown=\S+", f"{instruction} {arguments}")
        self.for_each(rule)

    def test_entrypoint_and_cmd_use_exec_form(self):
        def rule(instructions):
            for instruction, arguments in instructions:
                if instruction in ("ENTRYPOINT", "CMD"):
                    self.assertIsInstance(json.loads(arguments), list)
        self.for_each(rule)

    def test_builds_the_server_the_trainer_and_the_clients(self):
        def rule(instructions):
            builds = " ".join(arguments for instruction, arguments in instructions
                              if instruction == "RUN" and "bazel build" in arguments)
            labels = set(re.findall(r"//[\w/]+:[\w-]+", builds))
            for wanted in ("//server:genailab-server", "//trainer:genailab-trainer", "//client:genailab",
                           "//client/python:generated_protos"):
                self.assertIn(wanted, labels)
            # Every label exists: //deploy:docker_test depends on each of them.
            self.assertLessEqual(labels, TARGETS)
        self.for_each(rule)

    def test_build_context_leaves_out_bazel_outputs_and_git(self):
        for name in DOCKERFILES:
            with open(os.path.join(DOCKER, f"{name}.dockerignore"), encoding="utf-8") as f:
                patterns = {line.strip() for line in f if line.strip() and not line.startswith("#")}
            self.assertLessEqual({".git", "bazel-*", "var"}, patterns, name)

    def test_the_rules_catch_violations(self):
        bad = parse_dockerfile("FROM debian:latest AS build\nRUN curl -s https://x | sh\n"
                               "FROM debian AS runtime\nCOPY --from=build /a /b\nCMD genailab-server\n")
        self.assertFalse(is_pinned("debian:latest"))
        self.assertFalse(is_pinned("debian"))
        self.assertTrue(is_pinned("debian:bookworm-20241111-slim"))
        self.assertTrue(is_pinned("debian@sha256:" + "0" * 64))
        self.assertEqual([i for i, _ in bad], ["FROM", "RUN", "FROM", "COPY", "CMD"])
        with self.assertRaises(json.JSONDecodeError):
            json.loads(bad[-1][1])


class RuntimePackagesTest(unittest.TestCase):
    """runtime_packages.sh, which picks the runtime image's packages, run on the real binaries."""

    def test_finds_the_runtime_libraries_and_no_dev_package(self):
        self.assertTrue(BINARIES)
        result = subprocess.run([os.path.join(DOCKER, "runtime_packages.sh"), *BINARIES], capture_output=True,
                                text=True, check=False, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        packages = result.stdout.split()
        for wanted in ("libc6", "libstdc++6", "libtorch1.13", "libgrpc++1.51", "libprotobuf32"):
            self.assertIn(wanted, packages)
        self.assertEqual([p for p in packages if p.endswith("-dev")], [])

    def test_skip_dir_leaves_out_libraries_shipped_another_way(self):
        skip = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"), "shipped")
        os.makedirs(skip, exist_ok=True)
        for library in ("libtorch.so.1.13", "libtorch_cpu.so.1.13", "libc10.so.1.13"):
            open(os.path.join(skip, library), "w").close()
        result = subprocess.run([os.path.join(DOCKER, "runtime_packages.sh"), f"--skip_dir={skip}", *BINARIES],
                                capture_output=True, text=True, check=False, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("libtorch1.13", result.stdout.split())
        self.assertIn("libgrpc++1.51", result.stdout.split())

    def test_usage_error_without_binaries(self):
        result = subprocess.run([os.path.join(DOCKER, "runtime_packages.sh")], capture_output=True, text=True,
                                check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage: runtime_packages.sh", result.stderr)


class ComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DOCKER, "compose.yaml"), encoding="utf-8") as f:
            cls.compose = yaml.safe_load(f)
        cls.services = cls.compose["services"]

    def test_the_four_services(self):
        self.assertEqual(set(self.services), {"server", "trainer", "prometheus", "grafana"})

    def test_server_and_trainer_share_the_model_repository(self):
        server, trainer = self.services["server"], self.services["trainer"]
        self.assertIn("models:/models", server["volumes"])
        self.assertIn("models:/models", trainer["volumes"])
        self.assertEqual(flags(server["command"])["repository"], "/models")
        self.assertEqual(flags(trainer["command"])["repository"], "/models")
        self.assertIn("models", self.compose["volumes"])
        self.assertEqual(trainer["entrypoint"], ["genailab-trainer"])

    def test_server_is_health_checked_and_drains_before_it_is_killed(self):
        server = self.services["server"]
        self.assertEqual(server["healthcheck"]["test"][:5], ["CMD", "python3", "-m", "genailab", "health"])
        drain = float(flags(server["command"])["drain_seconds"])
        self.assertGreater(float(server["stop_grace_period"].rstrip("s")), drain)

    def test_prometheus_scrapes_both_on_their_metrics_ports(self):
        with open(os.path.join(DOCKER, "prometheus.yml"), encoding="utf-8") as f:
            config = yaml.safe_load(f)
        targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
        for job, service in (("genailab-server", "server"), ("genailab-trainer", "trainer")):
            port = flags(self.services[service]["command"])["metrics_address"].rsplit(":", 1)[1]
            self.assertEqual(targets[job], [f"{service}:{port}"])
        self.assertEqual(config["rule_files"], ["alerts.yml"])
        mounts = self.services["prometheus"]["volumes"]
        self.assertIn("../prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro", mounts)

    def test_grafana_gets_the_provisioning_and_the_dashboard(self):
        mounts = self.services["grafana"]["volumes"]
        self.assertIn("../grafana/provisioning:/etc/grafana/provisioning:ro", mounts)
        self.assertIn("../grafana/dashboards:/var/lib/grafana/dashboards:ro", mounts)
        with open(os.path.join(HERE, "grafana/provisioning/dashboards/genailab.yml"), encoding="utf-8") as f:
            provider = yaml.safe_load(f)["providers"][0]
        self.assertEqual(provider["options"]["path"], "/var/lib/grafana/dashboards")
        with open(os.path.join(HERE, "grafana/provisioning/datasources/prometheus.yml"), encoding="utf-8") as f:
            datasource = yaml.safe_load(f)["datasources"][0]
        self.assertEqual(datasource["url"], "http://prometheus:9090")
        with open(os.path.join(HERE, "grafana/dashboards/genailab.json"), encoding="utf-8") as f:
            dashboard = json.load(f)
        for panel in dashboard["panels"]:
            self.assertEqual(panel["datasource"]["uid"], datasource["uid"], panel["title"])

    def test_commands_use_flags_the_binaries_define(self):
        for name, program in (("server", "genailab-server"), ("trainer", "genailab-trainer")):
            self.assertEqual(unknown_flags(self.services[name]["command"], known_flags(PROGRAMS[program])), [],
                             name)
        for dockerfile in DOCKERFILES:
            with open(os.path.join(DOCKER, dockerfile), encoding="utf-8") as f:
                instructions = parse_dockerfile(f.read())
            entrypoint = [json.loads(a) for i, a in instructions if i == "ENTRYPOINT"][-1]
            command = [json.loads(a) for i, a in instructions if i == "CMD"][-1]
            self.assertEqual(entrypoint, ["genailab-server"])
            self.assertEqual(unknown_flags(command, known_flags(PROGRAMS["genailab-server"])), [], dockerfile)

    def test_every_bind_mount_source_exists_and_images_are_pinned(self):
        for name, service in self.services.items():
            if "image" in service:
                self.assertTrue(service.get("build") or is_pinned(service["image"]), name)
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    self.assertTrue(os.path.exists(os.path.join(DOCKER, source)), f"{name}: {source}")
        build = self.services["server"]["build"]
        self.assertTrue(os.path.exists(os.path.join(DOCKER, build["context"], build["dockerfile"])))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", nargs="*", default=[])
    parser.add_argument("--binaries", nargs="*", default=[])
    args, rest = parser.parse_known_args()
    TARGETS.update(args.targets)
    BINARIES.extend(os.path.abspath(path) for path in args.binaries)
    PROGRAMS.update((os.path.basename(path), path) for path in BINARIES)
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
