"""tfladder's check relay: the Jupyter server extension behind JupyterLab's Check button.

Installed on its own into the hub users' environment (it imports nothing of tfladder), enabled for
students and instructors by the hub's Jupyter configuration. POST <base>/tfladder/check with
{"path": "<notebook>"} reads the notebook as the user (through their own server's contents
manager: only what they can open) and sends it to the hub's check service
($TFLADDER_CHECK_URL) with the server's own hub token ($JUPYTERHUB_API_TOKEN), which tells the
service who is asking. The service's answer (points and messages, or why it refused) is passed on
as it came.
"""

import json
import os
from pathlib import PurePosixPath

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

SERVICE_ENV = "TFLADDER_CHECK_URL"
# A check executes the whole notebook in the grading sandbox, perhaps after others in a queue.
TIMEOUT = 1800


def _jupyter_server_extension_points():
    return [{"module": "tfladder_lab_check"}]


def _assignment_of(path):
    """nbgrader fetches an assignment into a folder named after it: <assignment>/<notebook>."""
    parts = PurePosixPath(path).parts
    return parts[-2] if len(parts) >= 2 else PurePosixPath(path).stem


class CheckHandler(APIHandler):
    def _answer(self, status, body):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    @web.authenticated
    async def post(self):
        service = os.environ.get(SERVICE_ENV)
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not service or not token:
            return self._answer(503, {"refused": "Checks against the hidden tests work only on the class's hub."})
        try:
            path = str((self.get_json_body() or {})["path"])
        except (TypeError, KeyError, web.HTTPError):
            return self._answer(400, {"refused": 'Send {"path": "<notebook>.ipynb"}.'})
        try:
            model = await ensure_async(self.contents_manager.get(path, content=True, type="notebook"))
        except web.HTTPError as error:
            why = f"{path} could not be read as a notebook ({error.log_message}); save it and try again."
            return self._answer(400, {"refused": why})
        request = HTTPRequest(
            service,
            method="POST",
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            body=json.dumps({"assignment": _assignment_of(path), "path": path, "notebook": model["content"]}),
            request_timeout=TIMEOUT,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as error:
            why = f"The check service cannot be reached ({error}); try again later. Nothing was counted."
            return self._answer(503, {"refused": why})
        try:
            body = json.loads(response.body or b"")
        except ValueError:
            body = {"refused": f"The check service answered {response.code}; try again later. Nothing was counted."}
        return self._answer(response.code if response.code >= 200 else 503, body)


def _load_jupyter_server_extension(server_app):
    web_app = server_app.web_app
    route = url_path_join(web_app.settings["base_url"], "tfladder", "check")
    web_app.add_handlers(".*$", [(route, CheckHandler)])
