// The page of a run, live (--preview: the run's state arrives as server-sent events from /events) or from a
// report (--html-report: window.RUN holds the whole run). Each message has the shape RunWatch.Message writes; a
// live one carries only what changed since the last, so the same apply() draws both.
(function () {
  'use strict';
  const token = new URLSearchParams(location.search).get('token') || '';
  const $ = id => document.getElementById(id);
  const points = [];      // [x, term values...]: x is the iteration counted over every scale
  let terms = [];
  let scales = [];
  let chart = null;
  let ended = false;

  // Colours for the terms in the order RunWatch names them: total, content, style, tv, then each region.
  const colours = ['#222', '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2'];

  function makeChart() {
    const box = $('losses');
    box.textContent = '';
    const series = [{ label: 'iteration' }].concat(terms.map((t, i) => ({
      label: t, stroke: colours[i % colours.length], width: i === 0 ? 2 : 1.25,
      value: (u, v) => v == null ? '-' : v.toExponential(3),
    })));
    chart = new uPlot({
      width: Math.max(320, box.clientWidth), height: 320, series: series,
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: 'iteration (all scales)', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4,
        5e4, 1e5, 2e5, 5e5, 1e6] }, { label: 'loss', size: 70,
        values: (u, ticks) => ticks.map(v => v == null ? '' : v.toExponential(0)) }],
      hooks: { draw: [drawScaleMarks] },
    }, columns(), box);
  }

  // The scale changes of a coarse-to-fine run: a dashed line where each scale after the first began, and its size.
  function drawScaleMarks(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = '#999';
    ctx.fillStyle = '#555';
    ctx.setLineDash([5, 4]);
    ctx.font = (11 * devicePixelRatio) + 'px sans-serif';
    for (const s of scales) {
      if (s.start == null || s.start === 0) continue;
      const x = u.valToPos(s.start, 'x', true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.fillText(s.size[0] + 'x' + s.size[1], x + 4, u.bbox.top + 12 * devicePixelRatio);
    }
    ctx.restore();
  }

  // uPlot's columns; a log scale cannot show 0 or a negative value, so those are gaps.
  function columns() {
    const data = [points.map(p => p[0])];
    for (let t = 0; t < terms.length; t++) data.push(points.map(p => p[t + 1] > 0 ? p[t + 1] : null));
    return data;
  }

  function figure(src, caption) {
    const f = document.createElement('figure');
    const img = document.createElement('img');
    img.src = src;
    img.alt = caption;
    const c = document.createElement('figcaption');
    c.textContent = caption;
    f.append(img, c);
    return f;
  }

  function duration(s) {
    if (s == null || !isFinite(s)) return '-';
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + r + 's';
  }

  function bytes(b) {
    if (!b) return '-';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return b.toFixed(i ? 1 : 0) + ' ' + units[i];
  }

  function showStatus(s) {
    const rows = [
      ['state', s.state + (s.outcome ? ' (' + s.outcome + ')' : '')],
      ['iteration', s.iterations ? s.iteration + ' / ' + s.iterations : '-'],
      ['scale', s.scale || 'one scale'],
      ['tiles', s.tiles || 'none (the whole image at once)'],
      ['iterations per second', s.rate ? s.rate.toFixed(2) : '-'],
      ['time', duration(s.elapsed)],
      ['ETA', s.state === 'running' ? duration(s.eta) : '-'],
      ['device', s.device],
      ['peak device memory', bytes(s.peakBytes)],
    ];
    const dl = $('status');
    dl.textContent = '';
    for (const [k, v] of rows) {
      const dt = document.createElement('dt'), dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = v;
      dd.dataset.key = k;
      dl.append(dt, dd);
    }
    $('state').textContent = s.state;
  }

  function apply(m) {
    if (m.title) document.title = m.title;
    if (m.inputs) {
      const box = $('inputs');
      box.textContent = '';
      for (const input of m.inputs) box.append(figure(input.src, input.name));
    }
    if (m.scales) scales = m.scales;
    if (m.terms && m.terms.join() !== terms.join()) { terms = m.terms; chart = null; }
    if (m.points) {
      points.length = m.from || 0;
      for (const p of m.points) points.push(p);
    }
    if (m.points || m.scales || m.terms) {
      if (!chart && terms.length) makeChart(); else if (chart) chart.setData(columns());
      $('losses').dataset.points = String(points.length);
    }
    if (m.frame) {
      const img = $('current');
      img.src = m.frame.src;
      img.dataset.frame = String(m.frame.n);
      $('caption').textContent = m.frame.caption;
    }
    if (m.status) showStatus(m.status);
    if (m.message) $('message').textContent = m.message;
    if (m.options) {
      const table = $('options');
      table.textContent = '';
      for (const [k, v] of m.options) {
        const tr = table.insertRow();
        tr.insertCell().textContent = k;
        tr.insertCell().textContent = v;
      }
    }
    if (m.plan) $('plan').textContent = m.plan;
    if (m.ended) {
      ended = true;
      for (const b of document.querySelectorAll('button')) b.disabled = true;
    }
  }

  async function press(path) {
    try {
      const r = await fetch(path + '?token=' + encodeURIComponent(token), { method: 'POST' });
      $('message').textContent = await r.text();
    } catch (e) {
      $('message').textContent = 'The run did not answer: it has ended, or its process is gone.';
    }
  }

  window.addEventListener('resize', () => {
    if (chart) chart.setSize({ width: Math.max(320, $('losses').clientWidth), height: 320 });
  });

  if (window.RUN) {
    apply(window.RUN);
    return;
  }
  $('stop').addEventListener('click', () => press('/stop'));
  $('snapshot').addEventListener('click', () => press('/snapshot'));
  const events = new EventSource('/events?token=' + encodeURIComponent(token));
  events.onmessage = e => {
    apply(JSON.parse(e.data));
    if (ended) events.close();
  };
  events.onerror = () => {
    if (ended) return;
    $('state').textContent = 'disconnected (retrying)';
  };
})();
