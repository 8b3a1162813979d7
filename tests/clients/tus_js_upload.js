// Uploads a file to Custodian with tus-js-client, the tus project's JavaScript client.
//
// Usage: node tus_js_upload.js ENDPOINT TOKEN FILE STATE_FILE STOP_AT METADATA_JSON
// Aborts once more than STOP_AT bytes are acknowledged if STOP_AT is above 0 (an interrupted
// upload); a later run with the same STATE_FILE finds the upload there and resumes it. Prints
// the upload URL and the offset it reached, then the receipt header of the last response.
'use strict';

const fs = require('fs');
const tus = require('tus-js-client');

const [endpoint, token, file, state, stopAt, metadata] = process.argv.slice(2);
const stop = Number(stopAt);
let receipt = '';

const upload = new tus.Upload(fs.createReadStream(file), {
  endpoint,
  chunkSize: 1 << 20,
  headers: { Authorization: `Bearer ${token}` },
  metadata: JSON.parse(metadata),
  uploadSize: fs.statSync(file).size,
  urlStorage: new tus.FileUrlStorage(state),
  retryDelays: [0, 100, 500],
  onAfterResponse(req, res) {
    receipt = res.getHeader('Custodian-Sha256') || receipt;
  },
  onChunkComplete(chunkSize, accepted) {
    if (stop > 0 && accepted >= stop) {
      upload.abort().then(() => {
        console.log(`${upload.url} ${accepted}`);
        process.exit(0);
      });
    }
  },
  onError(error) {
    console.error(`upload failed: ${error}`);
    process.exit(1);
  },
  onSuccess() {
    console.log(`${upload.url} ${fs.statSync(file).size} ${receipt}`);
  },
});

upload.findPreviousUploads().then((previous) => {
  if (previous.length > 0) {
    upload.resumeFromPreviousUpload(previous[0]);
  }
  upload.start();
});
