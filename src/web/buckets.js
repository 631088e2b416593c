// Bucket scans page: the same API key as the dashboard (sessionStorage), the native API under
// /v1/buckets, every value rendered with textContent.
const KEY_STORAGE = 'scangate.apiKey';
const $ = (id) => document.getElementById(id);
let selectedScan;

async function api(path, options = {}) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(KEY_STORAGE)}` };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  if (response.status === 401) {
    showSignedOut();
    throw new Error('the API key was refused');
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function cell(text, className) {
  return element('td', className, text);
}

function formatBytes(bytes) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function etaText(scan) {
  if (!['listing', 'scanning'].includes(scan.state)) return '';
  return scan.eta_seconds === null ? ' · ETA —' : ` · ETA ${scan.eta_seconds} s`;
}

/** Time alone for today's scans, date and time for older ones. */
function startedText(iso) {
  const started = new Date(iso);
  return started.toDateString() === new Date().toDateString()
    ? started.toLocaleTimeString()
    : started.toLocaleString();
}

function showSignedOut() {
  $('buckets-view').hidden = true;
  $('signed-out').hidden = false;
}

function progressCell(scan) {
  const settled = scan.listed - scan.queued;
  const td = element('td', 'progress-cell');
  const bar = element('progress');
  bar.max = Math.max(scan.listed, 1);
  bar.value = settled;
  if (scan.state === 'listing') bar.removeAttribute('value');
  td.append(
    bar,
    element(
      'span',
      'muted',
      ` ${settled} / ${scan.listed}${scan.state === 'listing' ? '+' : ''} · ${formatBytes(scan.bytes)}`,
    ),
  );
  return td;
}

function controlsCell(scan) {
  const td = element('td', 'row-actions');
  const button = (label, verb) => {
    const node = element('button', 'button button-quiet button-small', label);
    node.type = 'button';
    node.dataset.verb = verb;
    node.addEventListener('click', async (event) => {
      event.stopPropagation();
      await api(`/v1/buckets/scans/${scan.id}/${verb}`, { method: 'POST' }).catch((error) =>
        alert(error.message),
      );
      refreshScans();
    });
    return node;
  };
  if (['listing', 'scanning', 'watching'].includes(scan.state)) td.append(button('Pause', 'pause'));
  if (scan.state === 'paused') td.append(button('Resume', 'resume'));
  if (!['done', 'cancelled', 'failed'].includes(scan.state)) td.append(button('Cancel', 'cancel'));
  return td;
}

async function refreshScans() {
  const { scans } = await api('/v1/buckets/scans?limit=50');
  const rows = scans.map((scan) => {
    const row = element('tr', scan.id === selectedScan ? 'selected' : 'clickable');
    row.dataset.scanId = scan.id;
    const location = `s3://${scan.bucket}/${scan.prefix}${scan.kind === 'scan' ? '' : ` (${scan.kind})`}`;
    const state = element('td');
    state.append(element('span', `badge badge-state-${scan.state}`, scan.state));
    if (scan.error) state.append(element('div', 'error small', scan.error));
    row.append(
      cell(startedText(scan.created_at)),
      cell(location, 'mono'),
      state,
      progressCell(scan),
      cell(scan.clean, 'num'),
      cell(scan.infected + scan.other, scan.infected + scan.other > 0 ? 'num alert' : 'num'),
      cell(scan.unscannable, 'num'),
      cell(scan.failed + scan.skipped, 'num'),
      cell(`${scan.rate}/s${etaText(scan)}`, 'num'),
      controlsCell(scan),
    );
    row.addEventListener('click', () => {
      selectedScan = scan.id;
      $('objects-title').textContent = `Objects of ${location}`;
      refreshScans();
      refreshObjects();
    });
    return row;
  });
  $('bucket-scans')
    .querySelector('tbody')
    .replaceChildren(...rows);
  $('scans-empty').hidden = scans.length > 0;
}

function actionsText(actions) {
  return actions.map(
    (action) => `${action.ok ? '✓' : '✗'} ${action.action}${action.detail ? `: ${action.detail}` : ''}`,
  );
}

async function refreshObjects() {
  if (!selectedScan) return;
  $('objects-card').hidden = false;
  const status = $('objects-filter').value;
  const query = new URLSearchParams({ limit: '200', ...(status ? { status } : {}) });
  const { objects } = await api(`/v1/buckets/scans/${selectedScan}/objects?${query}`);
  const rows = objects.map((object) => {
    const row = element('tr');
    row.dataset.key = object.key;
    const statusCell = element('td');
    statusCell.append(
      element('span', `badge badge-${object.status ?? 'pending'}`, object.status ?? object.state),
    );
    const actions = element('td', 'object-actions');
    for (const line of actionsText(object.actions)) actions.append(element('div', undefined, line));
    row.append(
      cell(object.key, 'mono'),
      statusCell,
      cell(object.finding ?? ''),
      cell(formatBytes(object.size), 'num'),
      actions,
    );
    return row;
  });
  $('bucket-objects')
    .querySelector('tbody')
    .replaceChildren(...rows);
  $('objects-empty').hidden = objects.length > 0;
}

async function startScan(event) {
  event.preventDefault();
  const form = new FormData($('scan-form'));
  const actions = { tag: form.get('tag'), infected: form.get('infected') };
  const quarantine = String(form.get('quarantine') ?? '').trim();
  if (actions.infected === 'quarantine') actions.quarantine = quarantine;
  $('scan-error').hidden = true;
  try {
    const scan = await api('/v1/buckets/scans', {
      method: 'POST',
      body: { bucket: String(form.get('bucket')).trim(), prefix: String(form.get('prefix') ?? ''), actions },
    });
    selectedScan = scan.id;
    await refreshScans();
  } catch (error) {
    $('scan-error').textContent = error.message;
    $('scan-error').hidden = false;
  }
}

function start() {
  if (!sessionStorage.getItem(KEY_STORAGE)) return showSignedOut();
  $('signed-out').hidden = true;
  $('buckets-view').hidden = false;
  $('scan-form').addEventListener('submit', startScan);
  $('refresh').addEventListener('click', () => refreshScans());
  $('objects-filter').addEventListener('change', () => refreshObjects());
  refreshScans().catch(() => {});
  setInterval(() => {
    if (document.visibilityState !== 'visible' || $('buckets-view').hidden) return;
    refreshScans().catch(() => {});
    refreshObjects().catch(() => {});
  }, 2_000);
}

start();
