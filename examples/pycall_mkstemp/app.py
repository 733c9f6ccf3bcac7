"""Bare descriptor: each call file takes its name from tempfile.mkstemp() and drops the
descriptor mkstemp opened (the leaking shape of pycall's CallFile.__init__ before its fix;
see SOURCE.md): 1 descriptor per call file, never closed."""

import os
import shutil
import tempfile
from tempfile import mkstemp

SPOOL_DIR = os.path.join(tempfile.gettempdir(), "outgoing")


class CallFile:
    def __init__(self, channel, context, extension, spool_dir=SPOOL_DIR):
        self.channel = channel
        self.context = context
        self.extension = extension
        self.spool_dir = spool_dir
        path = mkstemp(suffix=".call")[1]
        self.filename = os.path.basename(path)
        self.tempdir = os.path.dirname(path)

    def buildfile(self):
        return [
            f"Channel: {self.channel}",
            f"Context: {self.context}",
            f"Extension: {self.extension}",
        ]

    def spool(self):
        source = os.path.join(self.tempdir, self.filename)
        with open(source, "w") as f:
            f.write("\n".join(self.buildfile()) + "\n")
        os.makedirs(self.spool_dir, exist_ok=True)
        target = os.path.join(self.spool_dir, self.filename)
        shutil.move(source, target)
        return target


def handler(event, context):
    call = CallFile("SIP/trunk/18882223333", "default", "s")
    return {"spooled": call.spool()}
