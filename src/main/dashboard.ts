// The dashboard page served at GET / by the metrics listener (metrics.ts), main thread only.
// One self-contained HTML document: inline CSS and script, no external assets, so it works on an
// isolated admin network and under a strict Content-Security-Policy. The script polls
// GET api/stats (metrics.ts StatsSnapshot) every 2 s and computes rates from the difference between
// two polls, so the server keeps no history. Laid out after HAProxy's stats page: one table of
// listeners, then one table of servers per upstream, rows coloured by state.
//
// The script avoids template literals so that this file can hold it in one.

const STYLE = `
:root {
  --bg: #f4f6f9; --panel: #ffffff; --text: #1f2933; --muted: #6b7785; --line: #e3e8ee; --head: #f8fafc;
  --accent: #2f6fdf; --up: #15803d; --up-bg: #dcfce7; --down: #b91c1c; --down-bg: #fee2e2; --down-row: #fff5f5;
  --drain: #a16207; --drain-bg: #fef3c7; --drain-row: #fffbeb; --maint: #475569; --maint-bg: #e2e8f0; --maint-row: #f8fafc;
  --eject: #c2410c; --eject-bg: #ffedd5;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f141a; --panel: #171e27; --text: #e5e9f0; --muted: #8b98a9; --line: #263040; --head: #1c2430;
    --accent: #6ea0ff; --up: #4ade80; --up-bg: #12351f; --down: #f87171; --down-bg: #3b1616; --down-row: #231416;
    --drain: #fbbf24; --drain-bg: #3a2d0c; --drain-row: #211c10; --maint: #a3b1c2; --maint-bg: #283242; --maint-row: #1a212b;
    --eject: #fb923c; --eject-bg: #3a220f;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { display: flex; align-items: center; gap: 20px; padding: 12px 24px; background: #18212d; color: #e8edf3; }
.brand { font-size: 18px; font-weight: 650; letter-spacing: .2px; }
.brand small { font-size: 12px; font-weight: 400; color: #9fb0c3; margin-left: 6px; }
.meta { color: #b5c2d1; font-size: 12px; display: flex; gap: 16px; flex-wrap: wrap; }
.meta b { color: #e8edf3; font-weight: 600; }
.live { margin-left: auto; font-size: 12px; color: #b5c2d1; display: flex; align-items: center; gap: 6px; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: #4ade80; box-shadow: 0 0 0 3px rgba(74, 222, 128, .18); }
.live.stale .dot { background: #f87171; box-shadow: 0 0 0 3px rgba(248, 113, 113, .2); }
main { padding: 18px 24px 32px; max-width: 1600px; margin: 0 auto; }
.banner { margin-bottom: 14px; padding: 10px 14px; border-radius: 6px; background: var(--down-bg); color: var(--down); font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 18px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .6px; }
.card .value { font-size: 22px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .value.bad { color: var(--down); }
.card .value.ok { color: var(--up); }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 16px; overflow: hidden; }
.panel-head { display: flex; align-items: center; gap: 10px; padding: 10px 14px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.panel-head h2 { margin: 0; font-size: 15px; font-weight: 650; }
.panel-head .info { color: var(--muted); font-size: 12px; display: flex; gap: 14px; flex-wrap: wrap; }
.panel-head .info b { color: var(--text); font-weight: 600; }
.tag { font-size: 11px; padding: 1px 7px; border-radius: 10px; background: var(--head); border: 1px solid var(--line); color: var(--muted); }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 9px; text-align: right; white-space: nowrap; border-bottom: 1px solid var(--line); }
th { background: var(--head); color: var(--muted); font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .4px; }
th.l, td.l { text-align: left; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover td { background: rgba(47, 111, 223, .05); }
tr.s-DOWN td { background: var(--down-row); }
tr.s-DRAIN td, tr.s-NOLB td { background: var(--drain-row); }
tr.s-MAINT td { background: var(--maint-row); color: var(--muted); }
td.name { font-weight: 600; }
table.servers th:nth-child(1) { width: 14%; }
table.servers th:nth-child(2) { width: 15%; }
td.name .addr { display: block; font-weight: 400; font-size: 11px; color: var(--muted); }
.badge { display: inline-block; min-width: 56px; text-align: center; padding: 2px 8px; border-radius: 4px; font-size: 11px; font-weight: 700; letter-spacing: .3px; }
.b-UP, .b-OPEN { background: var(--up-bg); color: var(--up); }
.b-DOWN, .b-STOP { background: var(--down-bg); color: var(--down); }
.b-DRAIN, .b-NOLB { background: var(--drain-bg); color: var(--drain); }
.b-MAINT { background: var(--maint-bg); color: var(--maint); }
.b-EJECT { background: var(--eject-bg); color: var(--eject); min-width: 0; margin-left: 4px; }
.muted { color: var(--muted); }
.bad { color: var(--down); font-weight: 600; }
.warn { color: var(--drain); font-weight: 600; }
.empty { padding: 14px; color: var(--muted); }
footer { color: var(--muted); font-size: 11px; text-align: center; padding: 8px; }
`

const SCRIPT = `
'use strict';
var POLL_MS = 2000;
var prev = null;
var renders = 0;

function h(tag, cls, children) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (children !== undefined && children !== null) {
    if (!Array.isArray(children)) children = [children];
    for (var i = 0; i < children.length; i++) {
      var c = children[i];
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
  }
  return e;
}
function td(text, cls) { return h('td', cls, text); }
function num(n) { return Math.round(n).toLocaleString('en-US'); }
function rate(r) {
  if (r === null) return '\\u2013';
  if (r === 0) return '0';
  return r < 10 ? r.toFixed(1) : num(r);
}
function bytes(n) {
  var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  var i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}
function ago(seconds) {
  if (!(seconds >= 0)) return '\\u2013';
  var s = Math.floor(seconds);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}
function sum(o) { var t = 0; for (var k in o) t += o[k]; return t; }
function badge(word, text) { return h('span', 'badge b-' + word, text || word); }

// Per-second rate of a counter between the previous poll and this one; null on the first poll or
// after a counter went backwards (clear counters).
function rateOf(key, value, now) {
  if (prev === null || !(key in prev.values)) return null;
  var dt = (now - prev.nowMs) / 1000;
  var dv = value - prev.values[key];
  return dt > 0 && dv >= 0 ? dv / dt : null;
}

function render(s) {
  var values = {};
  function track(key, value) { values[key] = value; return rateOf(key, value, s.nowMs); }

  document.getElementById('version').textContent = 'v' + s.version;
  var conns = 0;
  for (var w = 0; w < s.workers.length; w++) conns += s.workers[w].connections;
  var meta = document.getElementById('meta');
  meta.replaceChildren(
    h('span', null, ['generation ', h('b', null, String(s.generation))]),
    h('span', null, ['uptime ', h('b', null, ago((s.nowMs - s.startedAtMs) / 1000))]),
    h('span', null, ['workers ', h('b', null, String(s.workers.length))]),
    h('span', null, ['updated ', h('b', null, new Date(s.nowMs).toLocaleTimeString('en-GB'))]));

  // listeners
  var totalReqRate = null, totalActive = 0, total5xxRate = null;
  var lrows = [];
  for (var i = 0; i < s.listeners.length; i++) {
    var l = s.listeners[i];
    var lk = 'l/' + l.name;
    var lr = track(lk + '/req', l.requests);
    var l5 = track(lk + '/5xx', l.responses['5xx']);
    if (lr !== null) totalReqRate = (totalReqRate || 0) + lr;
    if (l5 !== null) total5xxRate = (total5xxRate || 0) + l5;
    totalActive += l.activeConnections;
    var row = h('tr', 's-' + (l.status === 'OPEN' ? 'UP' : 'DOWN'), [
      td(l.name, 'l name'), td(l.bind, 'l muted'), h('td', 'l', badge(l.status)),
      td(num(l.activeConnections)), td(num(l.connections)), td(num(l.requests)), td(rate(lr)),
      td(num(l.responses['2xx'])), td(num(l.responses['3xx'])), td(num(l.responses['4xx'])),
      td(num(l.responses['5xx']), l.responses['5xx'] > 0 ? 'warn' : null), td(num(l.denied)),
      td(bytes(l.bytesReceived)), td(bytes(l.bytesSent))]);
    row.setAttribute('data-listener', l.name);
    lrows.push(row);
  }
  var lhead = ['Listener', 'Bind', 'Status', 'Active', 'Conns', 'Requests', 'Req/s', '2xx', '3xx', '4xx', '5xx', 'Denied', 'In', 'Out'];
  var lpanel = h('section', 'panel', [
    h('div', 'panel-head', [h('h2', null, 'Listeners'), h('span', 'info', [h('span', null, [h('b', null, String(s.listeners.length)), ' listening'])])]),
    h('div', 'scroll', table(lhead, lrows, 3, 'no listeners'))]);

  // upstreams
  var upanels = [];
  var serversTotal = 0, serversUp = 0, serversDown = 0;
  for (var u = 0; u < s.upstreams.length; u++) {
    var up = s.upstreams[u];
    var srows = [];
    var upReq = null, upActive = 0;
    for (var j = 0; j < up.servers.length; j++) {
      var sv = up.servers[j];
      serversTotal++;
      if (sv.isUp && sv.admin !== 'maint') serversUp++;
      if (sv.state === 'DOWN') serversDown++;
      var key = 's/' + up.name + '/' + sv.name;
      var responses = sum(sv.responses);
      var rr = track(key + '/req', sv.requests);
      var r5 = track(key + '/5xx', sv.responses['5xx']);
      var bad = sv.responses['5xx'] + sv.responses.other;
      var rResp = track(key + '/resp', responses);
      var rBad = track(key + '/bad', bad);
      var errPct = rResp !== null && rBad !== null && rResp > 0 ? 100 * rBad / rResp : null;
      if (rr !== null) upReq = (upReq || 0) + rr;
      upActive += sv.activeRequests;
      var latCount = sv.latencyBuckets[sv.latencyBuckets.length - 1];
      var statusCell = h('td', 'l', [badge(sv.state, sv.status)]);
      if (sv.isEjected) statusCell.appendChild(badge('EJECT', 'ejected'));
      var weight = sv.weight === sv.initialWeight ? String(sv.weight) : [String(sv.weight), h('span', 'muted', ' / ' + sv.initialWeight)];
      var srow = h('tr', 's-' + sv.state, [
        h('td', 'l name', [sv.name, h('span', 'addr', sv.address)]),
        statusCell,
        h('td', null, weight),
        td(num(sv.activeRequests)),
        td(num(sv.requests)),
        td(rate(rr)),
        td(rate(r5), r5 ? 'bad' : null),
        td(errPct === null ? '\\u2013' : errPct.toFixed(1) + '%', errPct >= 5 ? 'bad' : errPct > 0 ? 'warn' : null),
        td(num(sv.responses['5xx']), sv.responses['5xx'] > 0 ? 'warn' : null),
        td(num(sv.connectFailures + sv.responseErrors), sv.connectFailures + sv.responseErrors > 0 ? 'warn' : null),
        td(latCount > 0 ? (sv.latencySumMs / latCount).toFixed(1) + ' ms' : '\\u2013'),
        td(bytes(sv.bytesSent) + ' / ' + bytes(sv.bytesReceived)),
        td(sv.isChecked ? num(sv.checksFailed) + ' / ' + num(sv.downTransitions) : '\\u2013', 'muted'),
        td(sv.lastChangeSeconds > 0 ? ago(s.nowMs / 1000 - sv.lastChangeSeconds) : '\\u2013', 'muted')]);
      srow.setAttribute('data-server', up.name + '/' + sv.name);
      srow.setAttribute('data-state', sv.state);
      srows.push(srow);
    }
    var shead = ['Server', 'Status', 'Weight', 'Active', 'Requests', 'Req/s', '5xx/s', 'Err %', '5xx', 'Errors', 'Latency', 'Sent / recv', 'Chk fail/down', 'Changed'];
    var upanel = h('section', 'panel', [
      h('div', 'panel-head', [
        h('h2', null, up.name), badge(up.status), h('span', 'tag', up.balance),
        h('span', 'info', [
          h('span', null, [h('b', null, up.serversUsable + '/' + up.servers.length), ' servers usable']),
          h('span', null, [h('b', null, String(upActive)), ' active']),
          h('span', null, [h('b', null, String(up.queuedRequests)), ' queued']),
          h('span', null, [h('b', null, rate(upReq)), ' req/s'])])]),
      h('div', 'scroll', table(shead, srows, 2, 'no servers', 'servers'))]);
    upanel.setAttribute('data-upstream', up.name);
    upanels.push(upanel);
  }

  var cards = document.getElementById('cards');
  cards.replaceChildren(
    card('Requests / s', rate(totalReqRate)),
    card('5xx / s', rate(total5xxRate), total5xxRate > 0 ? 'bad' : null),
    card('Client connections', num(totalActive)),
    card('Servers up', serversUp + ' / ' + serversTotal, serversDown > 0 ? 'bad' : 'ok'),
    card('Worker connections', num(conns)),
    card('Dropped log records', num(s.ringDroppedRecords), s.ringDroppedRecords > 0 ? 'bad' : null));
  document.getElementById('listeners').replaceChildren(lpanel);
  document.getElementById('upstreams').replaceChildren.apply(document.getElementById('upstreams'), upanels);

  prev = { nowMs: s.nowMs, values: values };
  renders++;
  var app = document.getElementById('app');
  app.setAttribute('data-state', 'ready');
  app.setAttribute('data-renders', String(renders));
}

function card(label, value, cls) {
  return h('div', 'card', [h('div', 'label', label), h('div', 'value' + (cls ? ' ' + cls : ''), value)]);
}

// A table with the first leftCols columns left-aligned (names, status), numbers right-aligned.
function table(head, rows, leftCols, emptyText, cls) {
  if (rows.length === 0) return h('div', 'empty', emptyText);
  var tr = h('tr');
  for (var i = 0; i < head.length; i++) tr.appendChild(h('th', i < leftCols ? 'l' : null, head[i]));
  return h('table', cls || null, [h('thead', null, tr), h('tbody', null, rows)]);
}

function setProblem(text) {
  var banner = document.getElementById('banner');
  banner.hidden = text === null;
  banner.textContent = text || '';
  document.getElementById('live').className = text === null ? 'live' : 'live stale';
  document.getElementById('live-text').textContent = text === null ? 'live, every 2 s' : 'stale';
}

function poll() {
  fetch('api/stats', { cache: 'no-store' })
    .then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    })
    .then(function (s) { render(s); setProblem(null); })
    .catch(function (e) { setProblem('stats unavailable: ' + e.message); });
}

window.addEventListener('error', function (e) {
  document.body.setAttribute('data-js-error', String(e.message));
  setProblem('dashboard error: ' + e.message);
});
poll();
setInterval(poll, POLL_MS);
`

/** The whole page; served as is (see metrics.ts for its Content-Security-Policy). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>portico</title>
<style>${STYLE}</style>
</head>
<body>
<header class="top">
  <div class="brand">portico<small id="version"></small></div>
  <div class="meta" id="meta"></div>
  <div class="live" id="live"><span class="dot"></span><span id="live-text">connecting</span></div>
</header>
<main id="app" data-state="loading">
  <div class="banner" id="banner" hidden></div>
  <noscript><div class="banner">This page needs JavaScript; the same numbers are at <a href="api/stats">api/stats</a> and <a href="metrics">metrics</a>.</div></noscript>
  <div class="cards" id="cards"></div>
  <div id="listeners"></div>
  <div id="upstreams"></div>
</main>
<footer>portico · <a href="metrics">metrics</a> · <a href="api/stats">api/stats</a></footer>
<script>${SCRIPT}</script>
</body>
</html>
`
