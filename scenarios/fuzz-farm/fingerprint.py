"""What makes two failures the same bug: the functions of the stack trace and the assertion's
message, not line numbers (which move with every commit) and not the seed."""
import hashlib
import re


def fingerprint(stderr):
    functions = re.findall(r'^\s*File "[^"]*", line \d+, in (\S+)', stderr, re.M)
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    error = lines[-1].strip() if lines else ""
    return hashlib.sha256(("|".join(functions) + "|" + error).encode()).hexdigest()[:16]
