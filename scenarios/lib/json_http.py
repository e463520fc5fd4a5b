"""The reference fleets' stand-in servers answer JSON over HTTP; this is their one handler base.

Each scenario copies this file next to its own scripts (scenarios/lib/stand-ins.ts), so a stand-in
imports it from its own directory on the agent.
"""

import json
from http.server import BaseHTTPRequestHandler


class JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        # The daemon's log is the scenario's console: one line per request would drown it.
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
