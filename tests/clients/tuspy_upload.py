"""Uploads a file to Custodian with tuspy, the tus client of the tus project for Python.

Usage: tuspy_upload.py ENDPOINT TOKEN FILE STATE_FILE STOP_AT METADATA_JSON
Stops after STOP_AT bytes if it is above 0 (an interrupted upload); a later run with the same
STATE_FILE finds the upload's URL there and resumes it. Prints the upload URL and offset.
"""

import hashlib
import json
import sys

from tusclient import client
from tusclient.storage import filestorage
from tusclient.uploader import Uploader


class Sha256Uploader(Uploader):
    # tuspy sends sha1 checksums by default; Custodian's checksum extension takes sha256.
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def main():
    endpoint, token, path, state, stop_at, metadata = sys.argv[1:]
    tus = client.TusClient(endpoint, headers={"Authorization": "Bearer " + token})
    uploader = Sha256Uploader(
        file_path=path,
        client=tus,
        chunk_size=1 << 20,
        metadata=json.loads(metadata),
        store_url=True,
        url_storage=filestorage.FileStorage(state),
        upload_checksum=True,
    )
    stop = int(stop_at)
    uploader.upload(stop_at=stop if stop > 0 else None)
    print(uploader.url, uploader.offset)


main()
