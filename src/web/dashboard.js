// scangate dashboard: plain browser JavaScript against the native API. The API key lives in
// sessionStorage (this tab only) and goes out as a Bearer header; the server keeps no session.
// Every value from the API reaches the page through textContent, never as HTML.
import { drawVerdictChart } from './chart.js';

const KEY_STORAGE = 'scangate.apiKey';
const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

async function api(path) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${apiKey()}` } });
  if (response.status === 401) throw new Unauthorized('the API key was refused');
  const body = await response.json();
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function badge(status) {
  return element('span', `badge badge-${status}`, status);
}

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function formatAge(seconds) {
  if (seconds === null || seconds === undefined) return 'unknown';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function updateText(signatures) {
  if (!signatures) return 'unknown';
  const update = signatures.last_update;
  if (!update) {
    return signatures.source === 'freshclam' ? 'none yet' : `not run by scangate (${signatures.source})`;
  }
  const when = new Date(update.at).toLocaleString();
  return update.outcome === 'failed'
    ? `failed ${when}: ${update.detail}`
    : `${update.outcome.replace('_', ' ')} ${when}`;
}

function sourceText(source) {
  if (source.kind === 'upload') return source.filename ?? '(upload)';
  if (source.kind === 'url') return source.url;
  return `s3://${source.bucket}/${source.key}`;
}

function verdictText(scan) {
  if (scan.status === 'blocked') return scan.evidence ?? scan.finding;
  return scan.finding ?? [scan.reason, scan.detail].filter(Boolean).join(': ');
}

// ---- session -------------------------------------------------------------------------------

function showLogin(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  $('app-view').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  $('login-error').hidden = !message;
  $('login-error').textContent = message ?? '';
  $('api-key').focus();
}

function showApp() {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = false;
  refreshAll();
}

async function signIn(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $('api-key').value.trim());
  try {
    await api('/v1/scans?limit=1');
    $('api-key').value = '';
    showApp();
  } catch (error) {
    showLogin(error instanceof Unauthorized ? 'That key was refused.' : error.message);
  }
}

/** Runs a refresh; a refused key sends the user back to the login form. */
async function guarded(work) {
  try {
    await work();
  } catch (error) {
    if (error instanceof Unauthorized) showLogin('Your key was refused; sign in again.');
    else console.error(error);
  }
}

// ---- uploads -------------------------------------------------------------------------------

function uploadFile(file, onProgress) {
  // XMLHttpRequest because fetch reports no upload progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', '/v1/scans/file');
    request.setRequestHeader('authorization', `Bearer ${apiKey()}`);
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener('load', () => {
      let body;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = {};
      }
      if (request.status === 401) reject(new Unauthorized('the API key was refused'));
      else if (request.status >= 200 && request.status < 300) resolve(body);
      else reject(new Error(body.message ?? `HTTP ${request.status}`));
    });
    request.addEventListener('error', () => reject(new Error('upload failed: connection lost')));
    const form = new FormData();
    form.append('file', file, file.name);
    request.send(form);
  });
}

async function waitForVerdict(id) {
  let delay = 150;
  for (;;) {
    const scan = await api(`/v1/scans/${encodeURIComponent(id)}`);
    if (scan.status !== 'pending') return scan;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2000);
  }
}

async function scanFile(file) {
  const row = element('li', 'upload');
  const name = element('span', 'upload-name', file.name);
  const state = element('span', 'upload-state', 'uploading');
  const progress = element('progress');
  progress.max = 1;
  progress.value = 0;
  const detail = element('span', 'upload-detail', formatBytes(file.size));
  row.append(name, state, progress, detail);
  $('uploads').prepend(row);
  try {
    const submitted = await uploadFile(file, (fraction) => {
      progress.value = fraction;
    });
    progress.remove();
    state.textContent = 'scanning';
    const scan = await waitForVerdict(submitted.id);
    state.replaceChildren(badge(scan.status));
    row.dataset.status = scan.status;
    const parts = [formatBytes(scan.size)];
    if (verdictText(scan)) parts.push(verdictText(scan));
    if (scan.scan_time !== null) parts.push(`scanned in ${scan.scan_time} s`);
    detail.textContent = parts.join(' · ');
    refreshScans();
    refreshStats();
  } catch (error) {
    progress.remove();
    state.replaceChildren(element('span', 'error', 'error'));
    detail.textContent = error.message;
    if (error instanceof Unauthorized) showLogin('Your key was refused; sign in again.');
  }
}

function setUpDropZone() {
  const zone = $('drop-zone');
  const input = $('file-input');
  input.addEventListener('change', () => {
    for (const file of input.files) scanFile(file);
    input.value = '';
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    for (const file of event.dataTransfer.files) scanFile(file);
  });
}

// ---- panels --------------------------------------------------------------------------------

function refreshScans() {
  return guarded(async () => {
    const status = $('status-filter').value;
    const query = status ? `?limit=50&status=${status}` : '?limit=50';
    const { scans } = await api(`/v1/scans${query}`);
    const rows = scans.map((scan) => {
      const row = element('tr');
      row.dataset.id = scan.id;
      const created = new Date(scan.created_at);
      const today = created.toDateString() === new Date().toDateString();
      const time = element('td', '', today ? created.toLocaleTimeString() : created.toLocaleString());
      time.title = created.toLocaleString();
      const source = element('td', 'source', sourceText(scan.source));
      source.title = sourceText(scan.source);
      const statusCell = element('td');
      statusCell.append(badge(scan.status));
      row.append(
        time,
        source,
        statusCell,
        element('td', 'finding', verdictText(scan) || '—'),
        element('td', 'num', formatBytes(scan.size)),
        element('td', 'num', scan.scan_time === null ? '—' : `${scan.scan_time} s`),
      );
      return row;
    });
    $('scans').tBodies[0].replaceChildren(...rows);
    $('scans-empty').hidden = rows.length > 0;
  });
}

function refreshStats() {
  return guarded(async () => {
    const stats = await api(`/v1/stats?hours=${$('stats-range').value}`);
    const totals = ['clean', 'infected', 'unscannable', 'blocked'].map((status) => {
      const total = element('div', `total total-${status}`);
      total.append(element('strong', '', String(stats.totals[status])), element('span', '', status));
      return total;
    });
    const pending = element('div', 'total');
    pending.append(element('strong', '', String(stats.pending)), element('span', '', 'pending now'));
    $('totals').replaceChildren(...totals, pending);
    drawVerdictChart($('chart'), stats);
  });
}

async function refreshEngine() {
  let body;
  try {
    // With the key /readyz also lists the clamd addresses and what each problem is.
    const headers = apiKey() ? { authorization: `Bearer ${apiKey()}` } : {};
    body = await (await fetch('/readyz', { headers })).json();
  } catch {
    body = { status: 'unreachable', problems: ['the service does not answer'] };
  }
  // /readyz answers 503 with details when not ready; anything else (500, a proxy page) has none.
  body.status ??= 'unknown';
  body.engine ??= {};
  body.problems ??= body.message ? [body.message] : [];
  const ready = body.status === 'ready';
  const pill = $('engine-pill');
  pill.textContent = ready ? 'engine ready' : 'engine not ready';
  pill.className = `pill ${ready ? 'pill-ready' : 'pill-not-ready'}`;
  $('engine-state').textContent = ready ? 'ready' : String(body.status).replace('_', ' ');
  $('engine-version').textContent = body.engine.version ?? 'unknown';
  $('signature-version').textContent = body.engine.signature_version ?? 'unknown';
  $('signature-age').textContent = formatAge(body.engine.signature_age_seconds);
  const signatures = body.signatures ?? null;
  if (signatures?.database && body.engine.signature_version) {
    $('signature-version').textContent = `${signatures.database} ${body.engine.signature_version}`;
  }
  $('signature-update').textContent = updateText(signatures);
  $('test-signatures-banner').hidden = !signatures?.test;
  $('store-kind').textContent = body.store ?? 'unknown';
  $('engine-addresses').replaceChildren(
    ...(body.engine.addresses ?? []).map((address) => {
      const item = element('li', address.healthy ? '' : 'down', address.address);
      if (address.lastError) item.title = address.lastError;
      return item;
    }),
  );
  $('engine-problems').replaceChildren(...body.problems.map((problem) => element('li', '', problem)));
}

/** The tenant's content policy (docs/POLICY.md): what is refused besides malware. */
function refreshPolicy() {
  return guarded(async () => {
    const policy = await api('/v1/policy');
    $('policy-name').textContent = policy.default ? 'default (malware only)' : 'custom';
    $('policy-blocks').textContent =
      policy.block.length > 0 ? policy.block.join(', ').replaceAll('_', ' ') : 'nothing';
    $('policy-types').textContent = policy.allowed_types ? policy.allowed_types.join(', ') : 'any';
    $('policy-members').textContent = policy.max_archive_members ?? 'any';
  });
}

function refreshAll() {
  refreshEngine();
  refreshScans();
  refreshStats();
  refreshPolicy();
}

function start() {
  $('login-form').addEventListener('submit', signIn);
  $('logout').addEventListener('click', () => showLogin());
  $('refresh').addEventListener('click', refreshAll);
  $('status-filter').addEventListener('change', refreshScans);
  $('stats-range').addEventListener('change', refreshStats);
  setUpDropZone();
  refreshEngine();
  // Background refresh only while the tab is visible and signed in.
  setInterval(() => {
    if (!document.hidden && apiKey()) refreshScans();
  }, 5000);
  // /readyz scans the EICAR canary each time: every 15 s is plenty.
  setInterval(() => {
    if (!document.hidden) refreshEngine();
  }, 15_000);
  setInterval(() => {
    if (!document.hidden && apiKey()) refreshStats();
  }, 60_000);
  if (apiKey()) showApp();
  else showLogin();
}

start();
