// The site's backend in the webhook tests: an HTTP server on 127.0.0.1 that checks every
// delivery with npm's standardwebhooks (an implementation of the specification independent of
// the service's) and answers as the test planned. Started by tests/api/helpers/webhooks.rs.
//
// - POST /test/endpoints {name, secrets, answers}: deliveries to /hooks/{name} are verified with
//   any of `secrets` (whsec_…) and answered with the next status of `answers` (the last one
//   repeats; none: 200; 0: held unanswered, as a site that hangs, until the sender goes);
// - POST /hooks/{name}: a delivery, recorded whether it verified or not;
// - GET /test/received: every delivery so far, [{name, id, type, data, verified, error, answered}].
//
// Usage: node receiver.mjs [PORT]  (0 or none: a free port). Prints "listening on PORT".
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const endpoints = new Map();
const received = [];

async function readText(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body ?? {}));
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/test/endpoints') {
      const { name, secrets, answers = [] } = JSON.parse(await readText(req));
      endpoints.set(name, { secrets, answers: [...answers] });
      return answer(res, 201);
    }
    if (req.method === 'GET' && req.url === '/test/received') return answer(res, 200, received);
    const hook = /^\/hooks\/([\w-]+)$/.exec(req.url ?? '');
    if (req.method === 'POST' && hook) {
      const name = hook[1];
      const endpoint = endpoints.get(name) ?? { secrets: [], answers: [] };
      const body = await readText(req);
      let event = null;
      let error = null;
      for (const secret of endpoint.secrets) {
        try {
          event = new Webhook(secret).verify(body, req.headers);
          break;
        } catch (e) {
          error = String(e.message ?? e);
        }
      }
      const status = endpoint.answers.length > 1 ? endpoint.answers.shift() : (endpoint.answers[0] ?? 200);
      received.push({
        name,
        id: req.headers['webhook-id'] ?? null,
        type: event?.type ?? null,
        data: event?.data ?? null,
        verified: event !== null,
        error: event ? null : error,
        answered: status || null,
      });
      if (status === 0) return undefined;
      return answer(res, status);
    }
    answer(res, 404, { error: 'not found' });
  } catch (error) {
    answer(res, 500, { error: String(error?.stack ?? error) });
  }
});

await new Promise((resolve) => server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', resolve));
process.stdout.on('error', () => {});
console.log(`listening on ${server.address().port}`);
