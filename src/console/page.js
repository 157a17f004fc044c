// The floorgate operator console: draws /console/site once, then follows the snapshots of
// /console/events (server-sent events). Plain JavaScript, no libraries. Every text that
// comes from the gateway goes in with textContent, never as markup.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6',
  '#9a6324', '#469990', '#808000', '#000075', '#bfef45', '#fabed4', '#dcbeff'];
const page = { site: null, nodes: new Map(), colours: new Map(), robots: new Map(), devices: new Map(),
  snapshots: 0, tasksKey: '' };

const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function colour(id) {
  if (!page.colours.has(id)) page.colours.set(id, COLOURS[page.colours.size % COLOURS.length]);
  return page.colours.get(id);
}

// Layout y points up; SVG y points down.
const sx = (x) => x;
const sy = (y) => -y;

async function loadSite() {
  try {
    const r = await fetch('/console/site', { cache: 'no-store' });
    if (!r.ok) throw new Error(String(r.status));
    page.site = await r.json();
  } catch (e) {
    $('link').textContent = 'waiting for the gateway…';
    setTimeout(loadSite, 1000);
    return;
  }
  drawSite(page.site);
  connect();
}

function drawSite(site) {
  $('site-name').textContent = site.name;
  document.title = 'floorgate · ' + site.name;
  $('actions').hidden = !site.actions;
  const token = $('token');
  token.value = sessionStorage.getItem('floorgate-console-token') || '';
  token.addEventListener('change', () => sessionStorage.setItem('floorgate-console-token', token.value.trim()));
  for (const d of site.devices) if (d.kind === 'amr') colour(d.id);
  const layout = site.layout;
  if (!layout || layout.nodes.length === 0) return;
  for (const n of layout.nodes) page.nodes.set(n.id, n);
  const xs = layout.nodes.map((n) => n.x), ys = layout.nodes.map((n) => n.y);
  const m = 2.5;
  const minX = Math.min(...xs) - m, maxX = Math.max(...xs) + m;
  const minY = Math.min(...ys) - m, maxY = Math.max(...ys) + m;
  $('map').setAttribute('viewBox', `${minX} ${-maxY} ${maxX - minX} ${maxY - minY}`);
  const edges = $('edges');
  for (const e of layout.edges) {
    const a = page.nodes.get(e.from), b = page.nodes.get(e.to);
    if (!a || !b) continue;
    edges.appendChild(svg('line', { x1: sx(a.x), y1: sy(a.y), x2: sx(b.x), y2: sy(b.y),
      class: e.bidirectional ? 'two-way' : 'one-way' }));
  }
  const blocks = $('blocks');
  for (const b of layout.blocks) {
    for (const id of b.nodes) {
      const n = page.nodes.get(id);
      if (n) blocks.appendChild(svg('circle', { cx: sx(n.x), cy: sy(n.y), r: 0.7 }));
    }
  }
  const nodes = $('nodes'), labels = $('labels');
  const located = new Map();
  for (const l of site.locations) if (l.node) located.set(l.node, (located.get(l.node) || []).concat(l.id + (l.prefix ? '*' : '')));
  for (const n of layout.nodes) {
    const c = svg('circle', { cx: sx(n.x), cy: sy(n.y), r: 0.22, 'data-node': n.id,
      class: n.parking ? 'parking' : n.waiting ? 'waiting' : '' });
    const t = svg('title'); t.textContent = n.id + (n.parking ? ' (parking)' : '') + (n.waiting ? ' (waiting)' : '');
    c.appendChild(t);
    nodes.appendChild(c);
    const label = svg('text', { x: sx(n.x) + 0.3, y: sy(n.y) + 0.55 });
    label.textContent = n.id;
    labels.appendChild(label);
    const locs = located.get(n.id);
    if (locs) {
      nodes.appendChild(svg('rect', { x: sx(n.x) - 0.5, y: sy(n.y) - 0.75, width: 0.3, height: 0.3, class: 'location' }));
      const lt = svg('text', { x: sx(n.x) + 0.3, y: sy(n.y) - 0.35, class: 'location' });
      lt.textContent = locs.join(', ');
      labels.appendChild(lt);
    }
  }
}

function connect() {
  const es = new EventSource('/console/events');
  es.onopen = () => {
    document.body.dataset.connected = 'true';
    const l = $('link'); l.textContent = 'live'; l.className = 'badge on';
  };
  es.onerror = () => {
    // EventSource reconnects by itself; the first snapshot after it is fresh.
    document.body.dataset.connected = 'false';
    const l = $('link'); l.textContent = 'reconnecting…'; l.className = 'badge off';
  };
  es.onmessage = (e) => {
    let s;
    try { s = JSON.parse(e.data); } catch (_) { return; }
    render(s);
  };
}

function render(s) {
  page.snapshots += 1;
  document.body.dataset.snapshots = String(page.snapshots);
  document.body.dataset.seq = String(s.seq);
  const j = s.journal;
  $('journal').textContent = `journal ${j.last_seq} · unacknowledged ${j.unacked}`;
  $('counts').textContent = Object.entries(s.tasks.counts).filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`).join(' · ') || 'no tasks';
  const faulted = new Set(s.devices.filter((d) => d.availability === 'fault').map((d) => d.id));
  renderRobots(s.robots, faulted);
  renderDevices(s.devices);
  renderTasks(s.tasks);
  renderFailures(s.failures);
}

function robotPoint(r) {
  if (r.x !== null && r.y !== null && r.x !== undefined) return [r.x, r.y, r.theta || 0];
  const n = page.nodes.get(r.last_node);
  return n ? [n.x, n.y, 0] : null;
}

function renderRobots(robots, faulted) {
  const layer = $('robots'), holds = $('holds');
  while (holds.firstChild) holds.removeChild(holds.firstChild);
  const body = $('robot-table').tBodies[0];
  for (const r of robots) {
    let g = page.robots.get(r.id);
    if (!g) {
      g = svg('g', { class: 'robot', 'data-robot': r.id });
      const pose = svg('g', { class: 'pose' });
      pose.appendChild(svg('circle', { class: 'wait', r: 0.62 }));
      pose.appendChild(svg('circle', { class: 'body', r: 0.42, fill: colour(r.id) }));
      pose.appendChild(svg('line', { class: 'heading', x1: 0, y1: 0, x2: 0.55, y2: 0 }));
      g.appendChild(pose);
      const t = svg('text', { x: 0.5, y: -0.45 }); t.textContent = r.id;
      g.appendChild(t);
      const tip = svg('title'); g.appendChild(tip);
      layer.appendChild(g);
      page.robots.set(r.id, g);
    }
    const p = robotPoint(r);
    g.style.display = p ? '' : 'none';
    if (p) {
      g.style.transform = `translate(${sx(p[0])}px, ${sy(p[1])}px)`;
      g.firstChild.setAttribute('transform', `rotate(${(-p[2] * 180) / Math.PI})`);
      g.dataset.x = p[0].toFixed(3);
      g.dataset.y = p[1].toFixed(3);
      g.dataset.theta = p[2].toFixed(3);
    }
    g.dataset.node = r.last_node;
    g.classList.toggle('waiting', !!r.waiting_for);
    g.classList.toggle('fault', faulted.has(r.id));
    g.lastChild.textContent = r.id + (r.waiting_for ? ' — waits: ' + r.waiting_for : '');
    if (r.holds) drawHolds(holds, r);
    let row = body.querySelector(`tr[data-robot="${CSS.escape(r.id)}"]`);
    if (!row) {
      row = el('tr', { 'data-robot': r.id });
      for (let i = 0; i < 5; i++) row.appendChild(el('td'));
      row.cells[0].style.color = colour(r.id);
      row.cells[0].textContent = r.id;
      body.appendChild(row);
    }
    row.cells[1].textContent = r.last_node || '—';
    row.cells[2].textContent = p ? `${p[0].toFixed(1)}, ${p[1].toFixed(1)}` : '—';
    row.cells[3].textContent = r.heard ? `${Math.round(r.battery)} %` + (r.paused ? ' · paused' : '') : 'not heard';
    row.cells[4].textContent = r.holds
      ? `holds ${r.holds.nodes.length} nodes, ${r.holds.lanes.length} lanes` + (r.waiting_for ? '; waits: ' + r.waiting_for : '')
      : '—';
    row.cells[4].className = r.waiting_for ? 'waiting-for' : '';
  }
}

function drawHolds(layer, r) {
  const c = colour(r.id);
  for (const [a, b] of r.holds.lanes) {
    const na = page.nodes.get(a), nb = page.nodes.get(b);
    if (na && nb) layer.appendChild(svg('line', { x1: sx(na.x), y1: sy(na.y), x2: sx(nb.x), y2: sy(nb.y), stroke: c, 'data-held-by': r.id }));
  }
  for (const id of r.holds.nodes) {
    const n = page.nodes.get(id);
    if (n) layer.appendChild(svg('circle', { cx: sx(n.x), cy: sy(n.y), r: 0.45, fill: c, 'data-held-by': r.id }));
  }
}

function renderDevices(devices) {
  const body = $('device-table').tBodies[0];
  for (const d of devices) {
    let row = page.devices.get(d.id);
    if (!row) {
      row = el('tr', { 'data-device': d.id });
      row.appendChild(el('td', {}, d.id));
      row.appendChild(el('td', { class: 'state' }));
      row.appendChild(el('td', { class: 'reason' }));
      row.appendChild(el('td', { class: 'command' }));
      const act = el('td', { class: 'act' });
      if (page.site && page.site.actions) {
        for (const op of ['pause', 'resume', 'stop', 'reset']) {
          const b = el('button', { type: 'button', 'data-action': op }, op);
          b.addEventListener('click', () => act_(`/console/actions/devices/${encodeURIComponent(d.id)}/${op}`, `${op} ${d.id}`));
          act.appendChild(b);
        }
      }
      row.appendChild(act);
      body.appendChild(row);
      page.devices.set(d.id, row);
    }
    row.dataset.availability = d.availability;
    row.cells[1].textContent = d.availability + (d.kind ? ` (${d.kind})` : '');
    row.cells[2].textContent = d.reason || '';
    row.cells[3].textContent = d.current ? `${d.current.command} · ${d.current.task_id} step ${d.current.step}` : '';
  }
}

function renderTasks(tasks) {
  const key = JSON.stringify(tasks.open);
  $('open-more').textContent = tasks.more_open ? `(first ${tasks.open.length})` : '';
  if (key === page.tasksKey) return;
  page.tasksKey = key;
  const body = $('task-table').tBodies[0];
  while (body.firstChild) body.removeChild(body.firstChild);
  for (const t of tasks.open) {
    const row = el('tr', { 'data-task': t.task_id, 'data-state': t.state });
    row.appendChild(el('td', {}, `${t.task_id} (${t.kind})`));
    row.appendChild(el('td', {}, t.state + (t.cancel_requested ? ', cancelling' : '')));
    row.appendChild(el('td', {}, `${t.source} → ${t.destination}`));
    row.appendChild(el('td', {}, t.step !== null ? `${t.step}: ${t.command || ''} ${t.device_id || ''}` : ''));
    const act = el('td', { class: 'act' });
    if (page.site && page.site.actions) {
      const b = el('button', { type: 'button', 'data-action': 'cancel' }, 'cancel');
      b.addEventListener('click', () => act_(`/console/actions/tasks/${encodeURIComponent(t.task_id)}/cancel`, `cancel ${t.task_id}`));
      act.appendChild(b);
    }
    row.appendChild(act);
    body.appendChild(row);
  }
}

function renderFailures(failures) {
  const list = $('failures');
  while (list.firstChild) list.removeChild(list.firstChild);
  for (const f of failures.slice().reverse()) {
    const li = el('li', { 'data-seq': String(f.seq) });
    li.appendChild(el('span', { class: 'when' }, new Date(f.time_unix_ms).toLocaleTimeString() + ' '));
    li.appendChild(el('span', { class: 'what' }, f.what.replace(/_/g, ' ') + ' '));
    li.appendChild(el('span', {}, [f.task_id, f.device_id].filter(Boolean).join(' on ') + ': ' + f.reason));
    list.appendChild(li);
  }
}

async function act_(path, what) {
  const status = $('action-status');
  const headers = { 'Content-Type': 'application/json' };
  const token = $('token').value.trim();
  if (token) headers.Authorization = 'Bearer ' + token;
  let r, body = {};
  try {
    r = await fetch(path, { method: 'POST', headers, body: JSON.stringify({ reason: $('reason').value.trim() }) });
    body = await r.json().catch(() => ({}));
  } catch (e) {
    status.dataset.status = '0'; status.dataset.ok = 'false';
    status.textContent = `${what}: the gateway did not answer`;
    return;
  }
  status.dataset.status = String(r.status);
  status.dataset.ok = String(r.ok);
  status.textContent = r.ok ? `${what}: done (${body.reason || ''})` : `${what}: refused (${r.status}) ${body.error || ''}`;
}

// For tests and scripts: an action as a click on its button would do it.
window.floorgateAction = act_;

loadSite();
