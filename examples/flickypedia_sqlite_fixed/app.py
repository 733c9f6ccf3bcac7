"""Fixed as upstream fixed it: contextlib.closing closes the connection when the block ends."""

import contextlib
import os
import sqlite3
import tempfile

DUPLICATE_DATABASE_DIRECTORY = tempfile.gettempdir()


def record_file_created(flickr_photo_id, wikimedia_page_title, wikimedia_page_id):
    db_path = os.path.join(DUPLICATE_DATABASE_DIRECTORY, "uploads.db")
    with contextlib.closing(sqlite3.connect(db_path)) as con:
        cur = con.cursor()
        cur.execute(
            "CREATE TABLE IF NOT EXISTS flickr_photos_on_wikimedia ("
            " flickr_photo_id TEXT PRIMARY KEY,"
            " wikimedia_page_title TEXT NOT NULL,"
            " wikimedia_page_id TEXT NOT NULL)"
        )
        cur.execute(
            "INSERT OR REPLACE INTO flickr_photos_on_wikimedia VALUES(?, ?, ?)",
            (flickr_photo_id, wikimedia_page_title, wikimedia_page_id),
        )
        con.commit()


def handler(event, context):
    photo_id = context.aws_request_id
    record_file_created(photo_id, f"File:{photo_id}.jpg", f"M{len(photo_id)}")
    return {"recorded": photo_id}
