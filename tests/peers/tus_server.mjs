// An independent tus server for the interoperability test: @tus/server with
// its file store, behind a Node https server that requires client
// certificates from the test CA. Prints "listening on PORT".
//   node tests/peers/tus_server.mjs CA CERT KEY DIRECTORY  (after npm ci in tests/peers)
import fs from 'node:fs';
import https from 'node:https';
import {Server} from '@tus/server';
import {FileStore} from '@tus/file-store';

const [ca, cert, key, directory] = process.argv.slice(2);
const tus = new Server({path: '/files', relativeLocation: true, datastore: new FileStore({directory})});
const server = https.createServer(
  {ca: fs.readFileSync(ca), cert: fs.readFileSync(cert), key: fs.readFileSync(key), requestCert: true, rejectUnauthorized: true},
  (req, res) => tus.handle(req, res));
server.listen(0, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
