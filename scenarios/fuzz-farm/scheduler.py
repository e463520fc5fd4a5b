"""Picks and checks out the commit this simulator tests next (the guide's scheduler): VOPR 0
always tests main; VOPR i > 0 tests the i-th newest branch labelled for testing (vopr/*),
falling back to main when there are fewer labelled branches than simulators."""
import json
import os
import subprocess


def git(*args):
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def labelled_branches():
    refs = git("for-each-ref", "--sort=-committerdate", "--format=%(refname:lstrip=3)", "refs/remotes/origin/vopr/")
    return [ref for ref in refs.splitlines() if ref]


def main():
    current = int(os.environ["CURRENT_VOPR"])
    git("fetch", "--prune", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*")
    labelled = labelled_branches()
    branch = "main" if current == 0 or current - 1 >= len(labelled) else labelled[current - 1]
    git("checkout", "--quiet", "--detach", "--force", f"origin/{branch}")
    commit = git("rev-parse", "HEAD")
    with open(".vopr-target", "w") as out:
        json.dump({"vopr": current, "branch": branch, "commit": commit}, out)
    print(f"vopr {current}: testing {branch} at {commit[:12]}", flush=True)


if __name__ == "__main__":
    main()
