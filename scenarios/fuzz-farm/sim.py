"""The code under test of the fuzz-farm fleet: a deterministic simulation of a replicated
counter, standing for TigerBeetle's VOPR. Every choice comes from random.Random(seed), so a
seed replays the same run on any machine. It carries a planted bug: a replica that misses a
prepare during a view change commits a stale value, which the final check catches."""
import random
import sys

CODE_VERSION = "1"


def simulate(seed):
    rng = random.Random(seed)
    replicas = [0, 0, 0]
    view = 0
    for op in range(1, 40):
        view_change = rng.random() < 0.04
        if view_change:
            view += 1
        for r in range(3):
            dropped = rng.random() < 0.1
            if dropped and view_change:
                # The planted bug: a prepare dropped during a view change is never repaired.
                continue
            # Any other dropped prepare is repaired, so every replica applies the op.
            replicas[r] += op
    check_replicas_agree(replicas)
    return view


def check_replicas_agree(replicas):
    assert len(set(replicas)) == 1, "replicas diverged after view change"


if __name__ == "__main__":
    seed = int(sys.argv[1])
    views = simulate(seed)
    print(f"sim {CODE_VERSION} seed {seed}: ok after {views} view changes")
