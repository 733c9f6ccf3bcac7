"""Background threads: a watchdog observer started per invocation and never stopped."""

import os
import tempfile

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

WATCHED = tempfile.gettempdir()


class _Reload(FileSystemEventHandler):
    pass


def handler(event, context):
    observer = Observer()
    observer.schedule(_Reload(), WATCHED)
    observer.start()
    return {"watching": os.path.basename(WATCHED)}
