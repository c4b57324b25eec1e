// For the tests (outside test/, where node --test would run it as one).
// Every refresh the service answered, from its /metrics, whatever the outcome: a reuse within
// the grace interval is answered too, and counted apart from rotations.
export async function refreshes(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('auth_refreshes_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}
