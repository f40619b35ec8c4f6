"""Helpers shared by deploy/'s Python tests (imported from the test's runfiles folder)."""
import re
import subprocess


def flags(args):
    """{flag: value} of the "--flag=value" arguments in a command line."""
    return dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)


def known_flags(binary):
    """The flags a genailab binary accepts, from its Abseil --helpfull output."""
    result = subprocess.run([binary, "--helpfull"], capture_output=True, text=True, check=False, timeout=60)
    names = set(re.findall(r"^\s+--(\w+) \(", result.stdout + result.stderr, flags=re.MULTILINE))
    if not names:
        raise RuntimeError(f"{binary} --helpfull listed no flags:\n{result.stdout}{result.stderr}")
    return names


def unknown_flags(args, binary_flags):
    """Flags in `args` ("--name=value" or "--name") that the binary does not define."""
    return sorted(name for name in (a[2:].split("=", 1)[0] for a in args if a.startswith("--"))
                  if name not in binary_flags)
