#!/usr/bin/env bash
# One simulator service (the guide's vopr@<i>.service): check out what this VOPR tests, run a
# few seeds, exit; the service's restart policy brings it back with the latest code.
set -e
export CURRENT_VOPR=$1
python3 "$HOME/bin/scheduler.py"
python3 "$HOME/bin/vopr.py" --send="$VOPR_HUB_ADDRESS" --simulations="$SIMULATIONS"
